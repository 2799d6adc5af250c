// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @notice The part of COMPTokenV2 the market uses.
interface ICompV2 is IERC20 {
    function burn(uint256 amount) external;
    function mintEmission(address to, uint256 amount) external returns (uint256);
}

/// @title OARN task market (v2)
/// @notice Two settlement paths share one set of executor stakes (GOV):
///
///         Fast path (payment channels). A requester deposits COMP; withdrawing it takes
///         `withdrawalDelay`. It signs cumulative EIP-712 `Voucher`s ("total owed to executor X
///         so far"); an executor (or anyone) redeems the newest voucher of each requester in one
///         transaction, many requesters per batch. Work is ordered with EIP-712 `TaskOrder`s that
///         name the assigned executors; executors answer with EIP-712 `ResultReceipt`s. A receipt
///         contradicted by the receipts of a strict majority of the order's assigned executors, all
///         of the same non-zero determinism class, is provable fault: `disputeReceipts` slashes it.
///
///         On-chain path. `submitTask` (or `submitOrder`, a signed order funded from the deposit)
///         escrows `redundancy × reward`. R > 1 tasks are assigned by the requester (no first-come
///         slots); R = 1 tasks may be open. Every live claim locks the task's collateral. R = 1
///         results stand after a challenge window in which the requester may escalate to a
///         redundant check; R > 1 executors commit, then reveal. Withholding (no commit, no reveal,
///         a timed-out claim) loses the same share of collateral as a minority result. Without a
///         majority the requester may escalate once (adds executors); if it does not, every
///         revealed result is paid. Hashes are compared only for determinism classes ≠ 0.
///
///         Every payment burns `feeBps` of it; emission per epoch goes to executors pro rata to
///         the fees burned on their payments, at most `emissionPerFeeBps` COMP per COMP burned
///         (≤ 1), so self-dealing always loses. All parameters are set by `governance` (the
///         TimelockController) and copied into each task at submission; nothing here lets any key
///         move an executor's stake outside these rules.
/// @dev No ReentrancyGuard (it does not fit under the 24 KiB code limit): the only external calls
///      go to the immutable COMPTokenV2 / GOVTokenV2 (OpenZeppelin ERC-20s without hooks), always
///      after the state changes (checks-effects-interactions).
contract TaskMarket is EIP712 {
    using SafeERC20 for IERC20;

    uint256 public constant BPS = 10_000;
    /// @notice Most executors a task can have (redundancy plus escalation).
    uint256 public constant MAX_SLOTS = 8;
    /// @notice Largest redundancy at submission.
    uint256 public constant MAX_REDUNDANCY = 5;
    /// @notice Most executors one escalation adds.
    uint256 public constant MAX_ESCALATION = 2;

    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Voucher(address requester,address executor,uint256 cumulative)");
    bytes32 public constant TASK_ORDER_TYPEHASH = keccak256(
        "TaskOrder(address requester,bytes32 specHash,uint8 determinism,uint8 redundancy,uint128 reward,uint128 collateral,uint64 deadline,uint32 claimTimeout,address[] executors,uint256 nonce)"
    );
    bytes32 public constant RECEIPT_TYPEHASH =
        keccak256("ResultReceipt(bytes32 orderHash,address executor,uint8 determinism,bytes32 resultHash)");

    enum Status {
        None,
        Open,
        Escalating,
        Settled,
        Cancelled
    }

    enum ClaimState {
        None,
        Assigned,
        Claimed,
        Committed,
        Revealed,
        Failed,
        Paid,
        Rejected
    }

    /// @notice Governance parameters; the task-level ones are copied into each task.
    struct Params {
        uint128 collateral; // minimum GOV locked per live claim
        uint16 slashBps; // share of collateral lost for a minority result, withholding or timeout
        uint16 feeBps; // protocol fee burned on every payment
        uint16 emissionPerFeeBps; // most COMP minted per COMP of fee burned (≤ BPS)
        uint32 revealWindow;
        uint32 challengeWindow; // R = 1 challenge and escalation window
        uint32 withdrawalDelay;
        uint32 unbondingDelay;
        uint128 epochEmission; // COMP budget of one emission epoch
        uint128 maxDisputeSlash; // cap on one off-chain dispute slash
    }

    struct TaskSpec {
        bytes32 specHash; // keccak of the model/input CIDs and limits (the strings go in the event)
        uint8 determinism; // 0: results are not comparable; n ≥ 1: bit-exact within class n
        uint8 redundancy;
        uint128 reward; // per executor
        uint128 collateral; // ≥ params.collateral
        uint64 deadline;
        uint32 claimTimeout;
        address[] executors; // assignment: R > 1 needs exactly R; R = 1 may be empty (open)
    }

    struct TaskOrder {
        address requester;
        bytes32 specHash;
        uint8 determinism;
        uint8 redundancy;
        uint128 reward;
        uint128 collateral;
        uint64 deadline;
        uint32 claimTimeout;
        address[] executors;
        uint256 nonce;
    }

    struct ResultReceipt {
        bytes32 orderHash;
        address executor;
        uint8 determinism;
        bytes32 resultHash;
    }

    struct Voucher {
        address requester;
        address executor;
        uint256 cumulative;
    }

    struct Task {
        address requester;
        Status status;
        uint8 redundancy; // slots in use (grows with escalation)
        uint8 determinism;
        uint8 awaiting; // commits still awaited in this round (R > 1)
        uint8 live; // claims holding collateral
        uint8 revealed;
        bool escalated;
        bool open; // R = 1 without assignment
        uint64 deadline;
        uint64 windowEnd; // R = 1: end of the challenge window; Escalating: end of the escalation offer
        uint32 claimTimeout;
        uint32 revealWindow;
        uint32 challengeWindow;
        uint32 roundTime;
        uint16 slashBps;
        uint16 feeBps;
        uint96 reward;
        uint96 collateral;
    }

    struct Claim {
        address executor;
        ClaimState state;
        uint64 expiresAt;
        bytes32 digest; // the commitment until the reveal, then the result hash
    }

    struct Stake {
        uint128 amount;
        uint128 locked;
    }

    struct Unbonding {
        uint128 amount;
        uint64 readyAt;
    }

    struct Withdrawal {
        uint128 amount;
        uint64 readyAt;
    }

    struct Epoch {
        uint112 fees;
        uint128 budget;
        uint16 perFeeBps;
    }

    /// @dev An executor's fees of its latest paid epoch, in one slot that `stake` makes non-zero,
    ///      so a payment updates a warm non-zero slot instead of creating `feesOf[epoch][executor]`
    ///      (22k gas); the slot is archived into `_pastFees` when a later epoch's payment arrives.
    struct FeeAccount {
        uint32 epochPlus1; // 0: never written; else the epoch of `fees`, plus one
        uint224 fees;
    }

    ICompV2 public immutable comp;
    IERC20 public immutable gov;
    uint256 public immutable genesis;
    uint256 public immutable epochLength;
    address public governance;
    address public treasury;
    /// @dev Shares the treasury's (non-zero) slot, so the first task does not create a slot.
    uint96 public taskCount;
    Params public params;

    mapping(uint256 taskId => Task) private _tasks;
    mapping(uint256 taskId => mapping(uint256 slot => Claim)) private _claims;
    mapping(address executor => Stake) public stakes;
    mapping(address executor => Unbonding) public unbonding;
    mapping(address requester => uint256) public depositOf;
    mapping(address requester => Withdrawal) public withdrawals;
    mapping(address requester => mapping(address executor => uint256)) public redeemed;
    mapping(bytes32 orderHash => bool) public orderUsed;
    mapping(bytes32 orderHash => mapping(address executor => bool)) public disputed;
    mapping(uint256 epoch => Epoch) public epochs;
    mapping(uint256 epoch => mapping(address executor => uint256)) private _pastFees;
    mapping(address executor => FeeAccount) private _feeAccounts;
    mapping(uint256 epoch => mapping(address executor => bool)) public emissionClaimed;

    event ParamsSet();
    event GovernanceSet(address governance, address treasury);
    event Staked(address indexed executor, uint256 amount);
    event UnstakeRequested(address indexed executor, uint256 amount, uint64 readyAt);
    event Unstaked(address indexed executor, uint256 amount);
    event Slashed(address indexed executor, uint256 indexed taskId, bytes32 indexed orderHash, uint256 amount);
    event Deposited(address indexed requester, uint256 amount);
    event WithdrawalRequested(address indexed requester, uint256 amount, uint64 readyAt);
    event Withdrawn(address indexed requester, uint256 amount);
    event VoucherRedeemed(address indexed requester, address indexed executor, uint256 cumulative, uint256 paid);
    event TaskSubmitted(uint256 indexed taskId, address indexed requester, bytes32 specHash, uint8 redundancy, uint128 reward, address[] executors);
    event TaskClaimed(uint256 indexed taskId, address indexed executor, uint64 expiresAt);
    event ClaimFailed(uint256 indexed taskId, address indexed executor, uint256 slashed);
    event ResultCommitted(uint256 indexed taskId, address indexed executor);
    event ResultRevealed(uint256 indexed taskId, address indexed executor, bytes32 resultHash, string resultCid);
    event Escalation(uint256 indexed taskId, uint64 offerEnds);
    event Escalated(uint256 indexed taskId, address[] executors);
    event ExecutorPaid(uint256 indexed taskId, address indexed executor, uint256 paid, uint256 fee);
    event TaskSettled(uint256 indexed taskId, bool majority, bytes32 resultHash, uint256 refunded);
    event TaskCancelled(uint256 indexed taskId, uint256 refunded);
    event EmissionClaimed(address indexed executor, uint256 indexed epoch, uint256 amount);

    error NotGovernance();
    error InvalidParams();
    error InvalidSpec();
    error ZeroAmount();
    error InsufficientStake();
    error InsufficientDeposit();
    error NotReady();
    error UnknownTask();
    error WrongStatus();
    error NotAssigned();
    error SlotTaken();
    error ClaimExpired();
    error WrongPhase();
    error CommitmentMismatch();
    error NotRequester();
    error NotFinalizable();
    error HasLiveClaims();
    error BadSignature();
    error OrderUsed();
    error NotComparable();
    error NoFault();
    error AlreadyDisputed();
    error EpochNotOver();
    error AlreadyClaimed();

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance();
        _;
    }

    constructor(ICompV2 comp_, IERC20 gov_, address governance_, address treasury_, uint256 epochLength_, Params memory params_)
        EIP712("OARN TaskMarket", "2")
    {
        if (governance_ == address(0) || treasury_ == address(0) || epochLength_ == 0) revert InvalidParams();
        comp = comp_;
        gov = gov_;
        governance = governance_;
        treasury = treasury_;
        genesis = block.timestamp;
        epochLength = epochLength_;
        _setParams(params_);
    }

    // ------------------------------------------------------------------ governance

    /// @notice Replace the parameters (governance only); live tasks keep their copies.
    function setParams(Params calldata params_) external onlyGovernance {
        _setParams(params_);
    }

    /// @notice Move governance and the treasury that receives slashed GOV (governance only).
    function setGovernance(address governance_, address treasury_) external onlyGovernance {
        if (governance_ == address(0) || treasury_ == address(0)) revert InvalidParams();
        governance = governance_;
        treasury = treasury_;
        emit GovernanceSet(governance_, treasury_);
    }

    function _setParams(Params memory p) private {
        if (p.slashBps > BPS || p.feeBps > BPS / 5 || p.emissionPerFeeBps > BPS) revert InvalidParams();
        if (p.collateral == 0 || p.revealWindow == 0 || p.challengeWindow == 0) revert InvalidParams();
        // unbonding must outlast the dispute evidence window (a challenge window after the deadline)
        if (p.unbondingDelay < p.challengeWindow) revert InvalidParams();
        params = p;
        emit ParamsSet(); // read the values with `params()`
    }

    // ------------------------------------------------------------------ executor stake

    function stake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        stakes[msg.sender].amount += uint128(amount);
        // pay the fee slot's creation here, once, instead of on the executor's first payment
        FeeAccount storage a = _feeAccounts[msg.sender];
        if (a.epochPlus1 == 0) a.epochPlus1 = type(uint32).max; // no epoch yet (fees 0)
        emit Staked(msg.sender, amount);
        gov.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Start unbonding free stake; it stays slashable until `completeUnstake`.
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Unbonding storage u = unbonding[msg.sender];
        if (amount > _free(msg.sender)) revert InsufficientStake();
        u.amount += uint128(amount);
        u.readyAt = uint64(block.timestamp) + params.unbondingDelay;
        emit UnstakeRequested(msg.sender, amount, u.readyAt);
    }

    function completeUnstake() external {
        Unbonding storage u = unbonding[msg.sender];
        if (u.amount == 0) revert ZeroAmount();
        if (block.timestamp < u.readyAt) revert NotReady();
        Stake storage s = stakes[msg.sender];
        uint256 amount = u.amount;
        uint256 available = s.amount - s.locked;
        if (amount > available) amount = available; // a slash took part of it
        u.amount = 0;
        s.amount -= uint128(amount);
        emit Unstaked(msg.sender, amount);
        gov.safeTransfer(msg.sender, amount);
    }

    /// @notice Stake neither locked by a live claim nor unbonding.
    function freeStake(address executor) external view returns (uint256) {
        return _free(executor);
    }

    function _free(address executor) private view returns (uint256) {
        Stake storage s = stakes[executor];
        uint256 used = uint256(s.locked) + unbonding[executor].amount;
        return s.amount > used ? s.amount - used : 0;
    }

    // ------------------------------------------------------------------ requester deposit

    function deposit(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        depositOf[msg.sender] += amount;
        emit Deposited(msg.sender, amount);
        IERC20(address(comp)).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Announce a withdrawal; vouchers stay redeemable against the deposit until it runs.
    function requestWithdrawal(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint64 readyAt = uint64(block.timestamp) + params.withdrawalDelay;
        withdrawals[msg.sender] = Withdrawal(uint128(amount), readyAt);
        emit WithdrawalRequested(msg.sender, amount, readyAt);
    }

    function withdraw() external {
        Withdrawal memory w = withdrawals[msg.sender];
        if (w.amount == 0) revert ZeroAmount();
        if (block.timestamp < w.readyAt) revert NotReady();
        uint256 amount = w.amount < depositOf[msg.sender] ? w.amount : depositOf[msg.sender];
        delete withdrawals[msg.sender];
        unchecked {
            depositOf[msg.sender] -= amount; // ≤ the deposit, checked above
        }
        emit Withdrawn(msg.sender, amount);
        IERC20(address(comp)).safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ vouchers

    function voucherDigest(Voucher calldata v) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(VOUCHER_TYPEHASH, v.requester, v.executor, v.cumulative)));
    }

    /// @notice Redeem many vouchers (any requesters, any executors) in one transaction; payouts
    ///         to consecutive vouchers of the same executor are merged into one transfer.
    function redeemBatch(Voucher[] calldata vouchers, bytes[] calldata signatures) external {
        if (vouchers.length != signatures.length) revert BadSignature();
        uint256 burnTotal;
        uint256 pendingNet;
        uint256 pendingFee;
        address pendingTo;
        for (uint256 i = 0; i < vouchers.length; ++i) {
            (uint256 net, uint256 fee) = _redeem(vouchers[i], signatures[i]);
            address to = vouchers[i].executor;
            if (to != pendingTo) {
                _flush(pendingTo, pendingNet, pendingFee);
                pendingTo = to;
                pendingNet = 0;
                pendingFee = 0;
            }
            pendingNet += net;
            pendingFee += fee;
            burnTotal += fee;
        }
        _flush(pendingTo, pendingNet, pendingFee);
        if (burnTotal > 0) comp.burn(burnTotal);
    }

    function _flush(address to, uint256 net, uint256 fee) private {
        if (to == address(0)) return;
        _credit(to, fee);
        if (net > 0) IERC20(address(comp)).safeTransfer(to, net);
    }

    function _redeem(Voucher calldata v, bytes calldata signature) private returns (uint256 net, uint256 fee) {
        if (ECDSA.recover(voucherDigest(v), signature) != v.requester) revert BadSignature();
        uint256 done = redeemed[v.requester][v.executor];
        if (v.cumulative <= done) return (0, 0); // already redeemed: nothing to pay
        uint256 amount = v.cumulative - done;
        if (amount > depositOf[v.requester]) revert InsufficientDeposit();
        redeemed[v.requester][v.executor] = v.cumulative;
        unchecked {
            depositOf[v.requester] -= amount; // ≤ the deposit, checked above
        }
        fee = (amount * params.feeBps) / BPS;
        net = amount - fee;
        emit VoucherRedeemed(v.requester, v.executor, v.cumulative, amount);
    }

    // ------------------------------------------------------------------ orders and receipts

    function orderHash(TaskOrder calldata o) public pure returns (bytes32) {
        return keccak256(
            abi.encode(
                TASK_ORDER_TYPEHASH,
                o.requester,
                o.specHash,
                o.determinism,
                o.redundancy,
                o.reward,
                o.collateral,
                o.deadline,
                o.claimTimeout,
                keccak256(abi.encodePacked(o.executors)),
                o.nonce
            )
        );
    }

    function receiptDigest(ResultReceipt calldata r) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(RECEIPT_TYPEHASH, r.orderHash, r.executor, r.determinism, r.resultHash)));
    }

    /// @notice Bring a requester-signed order on chain as a task funded from its deposit.
    function submitOrder(TaskOrder calldata o, bytes calldata signature) external returns (uint256 taskId) {
        bytes32 structHash = orderHash(o);
        if (ECDSA.recover(_hashTypedDataV4(structHash), signature) != o.requester) revert BadSignature();
        if (orderUsed[structHash]) revert OrderUsed();
        orderUsed[structHash] = true;
        uint256 escrow = uint256(o.reward) * o.redundancy;
        if (escrow > depositOf[o.requester]) revert InsufficientDeposit();
        unchecked {
            depositOf[o.requester] -= escrow; // ≤ the deposit, checked above
        }
        TaskSpec memory spec = TaskSpec(o.specHash, o.determinism, o.redundancy, o.reward, o.collateral, o.deadline, o.claimTimeout, o.executors);
        taskId = _create(o.requester, spec);
    }

    /// @notice Slash the executor of `receipts[0]` when at least a strict majority of the order's
    ///         assigned executors signed receipts (`receipts[1..]`) for one other hash, all of the
    ///         order's non-zero determinism class. Anyone may bring the evidence.
    function disputeReceipts(
        TaskOrder calldata o,
        bytes calldata orderSignature,
        ResultReceipt[] calldata receipts,
        bytes[] calldata signatures
    ) external {
        bytes32 structHash = orderHash(o);
        if (ECDSA.recover(_hashTypedDataV4(structHash), orderSignature) != o.requester) revert BadSignature();
        if (o.determinism == 0) revert NotComparable();
        if (receipts.length != signatures.length || receipts.length < 2) revert NoFault();
        uint256 n = o.executors.length;
        uint256 seen; // bitmap of assigned indexes already used
        bytes32 accusedHash = receipts[0].resultHash;
        bytes32 majorityHash = receipts[1].resultHash;
        if (accusedHash == majorityHash) revert NoFault();
        for (uint256 i = 0; i < receipts.length; ++i) {
            ResultReceipt calldata r = receipts[i];
            if (r.orderHash != structHash || r.determinism != o.determinism) revert NotComparable();
            if (i > 0 && r.resultHash != majorityHash) revert NoFault();
            if (ECDSA.recover(receiptDigest(r), signatures[i]) != r.executor) revert BadSignature();
            uint256 index = _indexOf(o.executors, r.executor);
            if (index >= n || (seen >> index) & 1 == 1) revert NotAssigned();
            seen |= 1 << index;
        }
        if ((receipts.length - 1) * 2 <= n) revert NoFault();
        address accused = receipts[0].executor;
        if (disputed[structHash][accused]) revert AlreadyDisputed();
        disputed[structHash][accused] = true;
        uint256 amount = o.collateral < params.maxDisputeSlash ? o.collateral : params.maxDisputeSlash;
        uint256 slashed = _slash(accused, amount);
        emit Slashed(accused, 0, structHash, slashed);
        if (slashed > 0) gov.safeTransfer(treasury, slashed);
    }

    function _indexOf(address[] calldata list, address who) private pure returns (uint256) {
        for (uint256 i = 0; i < list.length && i < 256; ++i) if (list[i] == who) return i;
        return type(uint256).max;
    }

    // ------------------------------------------------------------------ on-chain tasks

    /// @notice Submit a task paid by the caller (`redundancy × reward` COMP pulled into escrow).
    function submitTask(TaskSpec calldata spec) external returns (uint256 taskId) {
        taskId = _create(msg.sender, spec);
        IERC20(address(comp)).safeTransferFrom(msg.sender, address(this), uint256(spec.reward) * spec.redundancy);
    }

    function _create(address requester, TaskSpec memory spec) private returns (uint256 taskId) {
        Params memory p = params;
        uint256 r = spec.redundancy;
        if (r == 0 || r > MAX_REDUNDANCY) revert InvalidSpec();
        if (spec.reward == 0 || spec.reward > type(uint96).max) revert InvalidSpec();
        if (spec.collateral > type(uint96).max) revert InvalidSpec();
        if (spec.claimTimeout == 0) revert InvalidSpec();
        if (spec.collateral < p.collateral) revert InvalidSpec();
        if (spec.deadline <= block.timestamp + (r > 1 ? p.revealWindow : 0)) revert InvalidSpec();
        uint256 assigned = spec.executors.length;
        if (r > 1 ? assigned != r : assigned > 1) revert InvalidSpec();
        taskId = ++taskCount;
        Task storage t = _tasks[taskId];
        t.requester = requester;
        t.status = Status.Open;
        t.redundancy = uint8(r);
        t.determinism = spec.determinism;
        t.awaiting = uint8(r);
        t.open = assigned == 0;
        t.deadline = spec.deadline;
        t.claimTimeout = spec.claimTimeout;
        t.revealWindow = p.revealWindow;
        t.challengeWindow = p.challengeWindow;
        t.roundTime = uint32(spec.deadline - block.timestamp);
        t.slashBps = p.slashBps;
        t.feeBps = p.feeBps;
        t.reward = uint96(spec.reward);
        t.collateral = uint96(spec.collateral);
        for (uint256 i = 0; i < assigned; ++i) _assign(taskId, i, spec.executors[i], requester);
        emit TaskSubmitted(taskId, requester, spec.specHash, uint8(r), spec.reward, spec.executors);
    }

    function _assign(uint256 taskId, uint256 slot, address executor, address requester) private {
        if (executor == address(0) || executor == requester) revert InvalidSpec();
        for (uint256 j = 0; j < slot; ++j) if (_claims[taskId][j].executor == executor) revert InvalidSpec();
        Claim storage c = _claims[taskId][slot];
        c.executor = executor;
        c.state = ClaimState.Assigned;
    }

    /// @notice Take a slot: an assigned executor accepts it, or anyone takes an open R = 1 task.
    ///         Locks the task's collateral from free stake until the claim is settled or fails.
    function claimTask(uint256 taskId) external {
        Task storage t = _openTask(taskId);
        _claim(taskId, t);
    }

    function _claim(uint256 taskId, Task storage t) private returns (Claim storage c) {
        if (block.timestamp > t.deadline) revert WrongPhase();
        if (t.open) {
            c = _claims[taskId][0];
            if (c.state == ClaimState.Claimed && block.timestamp > c.expiresAt) _fail(taskId, t, c);
            if (c.state != ClaimState.None && c.state != ClaimState.Failed) revert SlotTaken();
            if (msg.sender == t.requester) revert InvalidSpec();
            c.executor = msg.sender;
        } else {
            c = _claims[taskId][_slotOf(taskId, t, msg.sender)];
            if (c.state != ClaimState.Assigned) revert SlotTaken();
        }
        if (_free(msg.sender) < t.collateral) revert InsufficientStake();
        stakes[msg.sender].locked += t.collateral;
        uint64 expiresAt = uint64(block.timestamp) + t.claimTimeout;
        c.state = ClaimState.Claimed;
        c.expiresAt = expiresAt;
        unchecked {
            t.live += 1; // ≤ redundancy ≤ MAX_SLOTS
        }
        emit TaskClaimed(taskId, msg.sender, expiresAt);
    }

    /// @notice R = 1: the claimant submits its result before its claim expires; it stands after
    ///         the challenge window unless the requester escalates.
    function submitResult(uint256 taskId, bytes32 resultHash, string calldata resultCid) external {
        Task storage t = _openTask(taskId);
        if (t.redundancy != 1 || t.escalated) revert WrongPhase();
        if (block.timestamp > t.deadline) revert WrongPhase();
        Claim storage c = _claims[taskId][0];
        if (c.executor != msg.sender || c.state != ClaimState.Claimed) revert NotAssigned();
        if (block.timestamp > c.expiresAt) revert ClaimExpired();
        c.state = ClaimState.Revealed;
        c.digest = resultHash;
        t.revealed = 1;
        t.windowEnd = uint64(block.timestamp) + t.challengeWindow;
        emit ResultRevealed(taskId, msg.sender, resultHash, resultCid);
    }

    /// @notice R > 1 (or an escalated task): commit keccak256(abi.encode(resultHash, resultCid,
    ///         salt, executor)); an assigned executor that has not claimed yet claims here.
    function commitResult(uint256 taskId, bytes32 commitment) external {
        Task storage t = _openTask(taskId);
        if (t.redundancy == 1 || _revealOpen(t)) revert WrongPhase();
        uint256 slot = _slotOf(taskId, t, msg.sender);
        Claim storage c = _claims[taskId][slot];
        if (c.state == ClaimState.Assigned) c = _claim(taskId, t);
        if (c.state != ClaimState.Claimed) revert NotAssigned();
        if (block.timestamp > c.expiresAt) revert ClaimExpired();
        c.state = ClaimState.Committed;
        c.digest = commitment;
        unchecked {
            t.awaiting -= 1; // each awaited slot commits once (Claimed → Committed)
        }
        emit ResultCommitted(taskId, msg.sender);
    }

    function revealResult(uint256 taskId, bytes32 resultHash, string calldata resultCid, bytes32 salt)
        external
       
    {
        Task storage t = _openTask(taskId);
        if (!_revealOpen(t) || block.timestamp > t.deadline) revert WrongPhase();
        Claim storage c = _claims[taskId][_slotOf(taskId, t, msg.sender)];
        if (c.state != ClaimState.Committed) revert NotAssigned();
        if (keccak256(abi.encode(resultHash, resultCid, salt, msg.sender)) != c.digest) revert CommitmentMismatch();
        c.state = ClaimState.Revealed;
        c.digest = resultHash;
        unchecked {
            t.revealed += 1; // ≤ redundancy
        }
        emit ResultRevealed(taskId, msg.sender, resultHash, resultCid);
    }

    /// @notice Requester: add 1–2 executors (paying their rewards) to an R = 1 task inside its
    ///         challenge window, or to a task without a majority inside the escalation offer.
    function escalate(uint256 taskId, address[] calldata extra) external {
        Task storage t = _tasks[taskId];
        if (msg.sender != t.requester) revert NotRequester();
        if (t.escalated) revert WrongStatus();
        if (t.determinism == 0) revert NotComparable();
        bool single = t.status == Status.Open && t.redundancy == 1 && t.revealed == 1;
        bool offer = t.status == Status.Escalating;
        if (!(single || offer) || block.timestamp > t.windowEnd) revert WrongStatus();
        uint256 k = extra.length;
        uint256 r = t.redundancy;
        if (k == 0 || k > MAX_ESCALATION || r + k > MAX_SLOTS) revert InvalidSpec();
        for (uint256 i = 0; i < k; ++i) _assign(taskId, r + i, extra[i], t.requester);
        t.redundancy = uint8(r + k);
        t.awaiting = uint8(k);
        t.escalated = true;
        t.open = false;
        t.status = Status.Open;
        t.deadline = uint64(block.timestamp) + t.roundTime;
        emit Escalated(taskId, extra);
        IERC20(address(comp)).safeTransferFrom(msg.sender, address(this), uint256(t.reward) * k);
    }

    /// @notice Settle a task (anyone): when every slot has revealed, the R = 1 challenge window
    ///         has passed, the deadline has passed, or an escalation offer has lapsed.
    function finalize(uint256 taskId) external {
        Task storage t = _tasks[taskId];
        if (t.status == Status.Escalating) {
            if (block.timestamp <= t.windowEnd) revert NotFinalizable();
            _settle(taskId, t, true);
            return;
        }
        if (t.status != Status.Open) revert WrongStatus();
        if (t.redundancy == 1 && t.revealed == 1) {
            // an R = 1 result always gets its full challenge window
            if (block.timestamp <= t.windowEnd) revert NotFinalizable();
        } else if (!(t.redundancy > 1 && t.revealed == t.redundancy) && block.timestamp <= t.deadline) {
            revert NotFinalizable();
        }
        _settle(taskId, t, false);
    }

    /// @notice Fail the task's claims that timed out (their collateral share is slashed; an open
    ///         R = 1 slot reopens). `claimTask`, `cancelTask` and settlement do this on their own.
    function expireClaims(uint256 taskId) external {
        Task storage t = _openTask(taskId);
        _expire(taskId, t);
    }

    /// @notice The requester cancels while no claim is live and no result is in.
    function cancelTask(uint256 taskId) external {
        Task storage t = _openTask(taskId);
        if (msg.sender != t.requester) revert NotRequester();
        _expire(taskId, t);
        if (t.live > 0 || t.revealed > 0) revert HasLiveClaims();
        uint256 amount = uint256(t.reward) * t.redundancy;
        t.status = Status.Cancelled;
        emit TaskCancelled(taskId, amount);
        IERC20(address(comp)).safeTransfer(t.requester, amount);
    }

    // ------------------------------------------------------------------ emission

    function epochOf(uint256 timestamp) public view returns (uint256) {
        return (timestamp - genesis) / epochLength;
    }

    /// @notice Claim the caller's emission of a past epoch: its share of the epoch budget pro rata
    ///         to the fees burned on its payments, never more than `perFeeBps` of those fees.
    function claimEmission(uint256 epoch) external returns (uint256 amount) {
        if (epoch >= epochOf(block.timestamp)) revert EpochNotOver();
        if (emissionClaimed[epoch][msg.sender]) revert AlreadyClaimed();
        emissionClaimed[epoch][msg.sender] = true;
        amount = emissionDue(epoch, msg.sender);
        if (amount > 0) amount = comp.mintEmission(msg.sender, amount);
        emit EmissionClaimed(msg.sender, epoch, amount);
    }

    function emissionDue(uint256 epoch, address executor) public view returns (uint256) {
        Epoch memory e = epochs[epoch];
        uint256 mine = feesOf(epoch, executor);
        if (mine == 0) return 0;
        uint256 share = (uint256(e.budget) * mine) / e.fees;
        uint256 cap = (mine * e.perFeeBps) / BPS;
        return share < cap ? share : cap;
    }

    function _credit(address executor, uint256 fee) private {
        if (fee == 0) return;
        uint256 epoch = epochOf(block.timestamp);
        Epoch storage e = epochs[epoch];
        if (e.fees == 0) {
            e.budget = params.epochEmission;
            e.perFeeBps = params.emissionPerFeeBps;
        }
        e.fees += uint112(fee);
        FeeAccount storage a = _feeAccounts[executor];
        uint256 last = a.epochPlus1;
        uint256 mine = a.fees;
        if (last != epoch + 1) {
            if (mine > 0) _pastFees[last - 1][executor] = mine; // an earlier epoch's fees
            mine = 0;
        }
        a.epochPlus1 = uint32(epoch + 1);
        a.fees = uint224(mine + fee);
    }

    /// @notice Fees burned on the executor's payments in `epoch` (its emission weight).
    function feesOf(uint256 epoch, address executor) public view returns (uint256) {
        FeeAccount memory a = _feeAccounts[executor];
        return a.epochPlus1 == epoch + 1 ? a.fees : _pastFees[epoch][executor];
    }

    // ------------------------------------------------------------------ views

    function getTask(uint256 taskId) external view returns (Task memory) {
        return _tasks[taskId];
    }

    function getClaim(uint256 taskId, uint256 slot) external view returns (Claim memory) {
        return _claims[taskId][slot];
    }

    function revealOpen(uint256 taskId) external view returns (bool) {
        return _revealOpen(_tasks[taskId]);
    }

    // ------------------------------------------------------------------ internals

    function _openTask(uint256 taskId) private view returns (Task storage t) {
        t = _tasks[taskId];
        if (t.status == Status.None) revert UnknownTask();
        if (t.status != Status.Open) revert WrongStatus();
    }

    function _slotOf(uint256 taskId, Task storage t, address executor) private view returns (uint256) {
        uint256 r = t.redundancy;
        for (uint256 i = 0; i < r; ++i) if (_claims[taskId][i].executor == executor) return i;
        revert NotAssigned();
    }

    function _revealOpen(Task storage t) private view returns (bool) {
        if (t.redundancy == 1) return false;
        return t.awaiting == 0 || block.timestamp + t.revealWindow >= t.deadline;
    }

    /// @dev A claim that did not deliver: lose `slashBps` of the collateral, free the rest.
    function _fail(uint256 taskId, Task storage t, Claim storage c) private {
        address executor = c.executor;
        // saturating: a dispute slash may already have clamped `locked` below this collateral
        _unlock(executor, t.collateral);
        c.state = ClaimState.Failed;
        unchecked {
            t.live -= 1; // the claim was live
        }
        uint256 slashed = _slash(executor, (uint256(t.collateral) * t.slashBps) / BPS);
        emit ClaimFailed(taskId, executor, slashed);
        emit Slashed(executor, taskId, bytes32(0), slashed);
        if (slashed > 0) gov.safeTransfer(treasury, slashed);
    }

    function _expire(uint256 taskId, Task storage t) private {
        uint256 r = t.redundancy;
        for (uint256 i = 0; i < r; ++i) {
            Claim storage c = _claims[taskId][i];
            if (c.state == ClaimState.Claimed && block.timestamp > c.expiresAt) _fail(taskId, t, c);
        }
    }

    function _slash(address executor, uint256 amount) private returns (uint256) {
        Stake storage s = stakes[executor];
        if (amount > s.amount) amount = s.amount;
        unchecked {
            s.amount -= uint128(amount); // clamped above
        }
        if (s.locked > s.amount) s.locked = s.amount;
        return amount;
    }

    function _unlock(address executor, uint256 amount) private {
        Stake storage s = stakes[executor];
        s.locked = s.locked > amount ? s.locked - uint128(amount) : 0;
    }

    /// @dev `lapsed`: an escalation offer ran out, so the revealed results stand.
    function _settle(uint256 taskId, Task storage t, bool lapsed) private {
        uint256 r = t.redundancy;
        // 1. every live claim that did not reveal failed (withholding costs like a minority result)
        for (uint256 i = 0; i < r; ++i) {
            Claim storage c = _claims[taskId][i];
            if (c.state == ClaimState.Claimed || c.state == ClaimState.Committed) _fail(taskId, t, c);
        }
        // 2. the majority among revealed results, only where hashes are comparable
        bool comparable = t.determinism != 0;
        bytes32 winner;
        bool majority;
        if (comparable) (majority, winner) = _majority(taskId, r);
        if (comparable && !majority && !lapsed && !t.escalated && t.revealed > 0) {
            t.status = Status.Escalating;
            t.windowEnd = uint64(block.timestamp) + t.challengeWindow;
            emit Escalation(taskId, t.windowEnd);
            return;
        }
        t.status = Status.Settled;
        uint256 refunded = uint256(t.reward) * (r - _payout(taskId, t, majority, winner));
        emit TaskSettled(taskId, majority, majority ? winner : bytes32(0), refunded);
        if (refunded > 0) IERC20(address(comp)).safeTransfer(t.requester, refunded);
    }

    /// @dev Pay the revealed results that agree with the majority (all of them without one) and
    ///      slash the others; returns how many were paid.
    function _payout(uint256 taskId, Task storage t, bool majority, bytes32 winner) private returns (uint256 paidCount) {
        uint256 slashTotal;
        uint256 slashEach = (uint256(t.collateral) * t.slashBps) / BPS;
        for (uint256 i = 0; i < t.redundancy; ++i) {
            Claim storage c = _claims[taskId][i];
            if (c.state != ClaimState.Revealed) continue;
            unchecked {
                t.live -= 1; // a revealed claim is live
            }
            _unlock(c.executor, t.collateral);
            if (!majority || c.digest == winner) {
                c.state = ClaimState.Paid;
                paidCount += 1;
                _payTask(taskId, t, c.executor, t.reward);
            } else {
                c.state = ClaimState.Rejected;
                uint256 slashed = _slash(c.executor, slashEach);
                slashTotal += slashed;
                emit Slashed(c.executor, taskId, bytes32(0), slashed);
            }
        }
        if (slashTotal > 0) gov.safeTransfer(treasury, slashTotal);
    }

    function _payTask(uint256 taskId, Task storage t, address executor, uint256 amount) private {
        uint256 fee = (amount * t.feeBps) / BPS;
        _credit(executor, fee);
        if (fee > 0) comp.burn(fee);
        emit ExecutorPaid(taskId, executor, amount - fee, fee);
        IERC20(address(comp)).safeTransfer(executor, amount - fee);
    }

    /// @dev The revealed hash held by more than half of the task's slots, if any.
    function _majority(uint256 taskId, uint256 r) private view returns (bool, bytes32) {
        for (uint256 i = 0; i < r; ++i) {
            Claim storage c = _claims[taskId][i];
            if (c.state != ClaimState.Revealed) continue;
            uint256 votes;
            for (uint256 j = 0; j < r; ++j) {
                Claim storage other = _claims[taskId][j];
                if (other.state == ClaimState.Revealed && other.digest == c.digest) votes += 1;
            }
            if (votes * 2 > r) return (true, c.digest);
        }
        return (false, bytes32(0));
    }
}
