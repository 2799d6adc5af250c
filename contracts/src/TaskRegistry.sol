// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @notice The part of COMPToken the registry uses to mint executor bonuses.
interface IRewardMinter {
    function mintRewardBonus(address executor) external returns (uint256 minted);
}

/// @title OARN task lifecycle
/// @notice Requesters submit inference tasks and escrow `redundancy × rewardPerExecutor` COMP.
///         Up to `redundancy` distinct executors holding at least `minStake` GOV (staked here) claim
///         a slot each; a claim that produces no commitment (R > 1) or result (R = 1) within the
///         task's `claimTimeout` times out and its slot reopens. With R = 1 the claimant submits
///         the result directly; with R > 1 each claimant first commits
///         keccak256(abi.encode(resultHash, resultCid, salt, executor)) and reveals once all R
///         commitments are in or the reveal window (the last `revealWindow` seconds before the
///         deadline) has opened, so no executor can copy another's hash.
///         Anyone may finalize once all R results are in or the deadline has passed: if more than
///         R/2 executors revealed the same hash, each of them is paid its reward from escrow (plus
///         a COMP bonus minted under the emission schedule) and the rest of the escrow returns to
///         the requester; otherwise nobody is paid and the whole escrow is refunded. With R ≥ 3,
///         executors that revealed a minority hash lose `slashBps` of `minStake` from their stake.
///         The requester may cancel before any claim.
contract TaskRegistry is ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Largest redundancy accepted (bounds every loop over a task's claimants).
    uint256 public constant MAX_REDUNDANCY = 16;
    /// @notice Most distinct executors that may ever claim one task (timed-out ones included).
    uint256 public constant MAX_CLAIMANTS = 64;

    enum TaskStatus {
        None,
        Open,
        Finalized,
        Cancelled
    }

    enum ClaimState {
        None,
        Claimed,
        Committed,
        Revealed,
        TimedOut
    }

    /// @notice What a requester specifies when submitting a task.
    struct TaskSpec {
        string modelCid;
        string inputCid;
        string framework;
        uint64 minVramMb;
        uint64 minRamMb;
        uint64 maxRuntimeSec;
        uint8 determinism;
        uint256 rewardPerExecutor;
        uint8 redundancy;
        uint64 deadline;
        uint64 claimTimeout;
    }

    struct Task {
        address requester;
        TaskStatus status;
        uint8 redundancy;
        uint8 determinism;
        uint8 activeClaims;
        uint8 commitments;
        uint8 results;
        uint64 deadline;
        uint64 claimTimeout;
        uint64 maxRuntimeSec;
        uint64 minVramMb;
        uint64 minRamMb;
        uint64 submittedAt;
        uint256 rewardPerExecutor;
        uint256 escrow;
        bytes32 resultHash;
        string modelCid;
        string inputCid;
        string framework;
    }

    struct Claim {
        ClaimState state;
        uint64 expiresAt;
        bytes32 commitment;
        bytes32 resultHash;
        string resultCid;
    }

    struct ExecutorStats {
        uint64 completed;
        uint64 disagreed;
        uint64 timedOut;
    }

    IERC20 public immutable compToken;
    IERC20 public immutable govToken;
    address public immutable governance;

    uint256 public minStake;
    uint256 public slashBps;
    uint64 public revealWindow;
    uint256 public taskCount;

    mapping(uint256 taskId => Task) private _tasks;
    mapping(uint256 taskId => address[]) private _claimants;
    mapping(uint256 taskId => mapping(address executor => Claim)) private _claims;
    mapping(address executor => uint256) public stakeOf;
    mapping(address executor => uint256) public activeClaimsOf;
    mapping(address executor => ExecutorStats) private _stats;

    event Staked(address indexed executor, uint256 amount, uint256 total);
    event Unstaked(address indexed executor, uint256 amount, uint256 total);
    event StakeSlashed(address indexed executor, uint256 indexed taskId, uint256 amount);
    event MinStakeSet(uint256 minStake);
    event SlashBpsSet(uint256 slashBps);
    event RevealWindowSet(uint64 revealWindow);
    event TaskSubmitted(
        uint256 indexed taskId,
        address indexed requester,
        string modelCid,
        string inputCid,
        uint256 rewardPerExecutor,
        uint8 redundancy,
        uint64 deadline
    );
    event TaskClaimed(uint256 indexed taskId, address indexed executor, uint64 expiresAt);
    event ClaimTimedOut(uint256 indexed taskId, address indexed executor);
    event ResultCommitted(uint256 indexed taskId, address indexed executor, bytes32 commitment);
    event RevealOpened(uint256 indexed taskId);
    event ResultSubmitted(uint256 indexed taskId, address indexed executor, bytes32 resultHash, string resultCid);
    event ExecutorPaid(uint256 indexed taskId, address indexed executor, uint256 reward, uint256 bonus);
    event ResultDisagreed(uint256 indexed taskId, address indexed executor, bytes32 resultHash);
    event TaskFinalized(uint256 indexed taskId, bool majority, bytes32 resultHash, uint256 paidExecutors, uint256 refunded);
    event TaskCancelled(uint256 indexed taskId, uint256 refunded);

    error NotGovernance();
    error InvalidSpec(string reason);
    error ZeroAmount();
    error InsufficientStake();
    error StakeLocked();
    error UnknownTask();
    error TaskNotOpen();
    error AlreadyClaimed();
    error NoOpenSlot();
    error TooManyClaimants();
    error DeadlinePassed();
    error NotClaimant();
    error ClaimExpired();
    error WrongPhase();
    error CommitmentMismatch();
    error NotRequester();
    error NotFinalizable();
    error HasClaims();
    error DeadlineNotPassed();

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance();
        _;
    }

    constructor(IERC20 compToken_, IERC20 govToken_, address governance_, uint256 minStake_, uint64 revealWindow_) {
        compToken = compToken_;
        govToken = govToken_;
        governance = governance_;
        minStake = minStake_;
        revealWindow = revealWindow_;
        slashBps = 2_500;
    }

    // ----------------------------------------------------------------- governance

    /// @notice Set the GOV stake an executor needs to claim (governance only).
    function setMinStake(uint256 minStake_) external onlyGovernance {
        minStake = minStake_;
        emit MinStakeSet(minStake_);
    }

    /// @notice Set the share of `minStake` (basis points) slashed for a minority result.
    function setSlashBps(uint256 slashBps_) external onlyGovernance {
        if (slashBps_ > 10_000) revert InvalidSpec("slashBps > 10000");
        slashBps = slashBps_;
        emit SlashBpsSet(slashBps_);
    }

    /// @notice Set the reveal window that opens before each R > 1 task's deadline.
    function setRevealWindow(uint64 revealWindow_) external onlyGovernance {
        revealWindow = revealWindow_;
        emit RevealWindowSet(revealWindow_);
    }

    // ----------------------------------------------------------------- staking

    /// @notice Stake GOV (approve this contract first).
    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 total = stakeOf[msg.sender] + amount;
        stakeOf[msg.sender] = total;
        emit Staked(msg.sender, amount, total);
        govToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Withdraw staked GOV; while claims are active the stake may not drop below `minStake`.
    function unstake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 current = stakeOf[msg.sender];
        if (amount > current) revert InsufficientStake();
        uint256 total = current - amount;
        if (activeClaimsOf[msg.sender] > 0 && total < minStake) revert StakeLocked();
        stakeOf[msg.sender] = total;
        emit Unstaked(msg.sender, amount, total);
        govToken.safeTransfer(msg.sender, amount);
    }

    // ----------------------------------------------------------------- lifecycle

    /// @notice Submit a task; pulls `redundancy × rewardPerExecutor` COMP into escrow.
    function submitTask(TaskSpec calldata spec) external nonReentrant returns (uint256 taskId) {
        if (spec.redundancy == 0 || spec.redundancy > MAX_REDUNDANCY) revert InvalidSpec("redundancy");
        if (spec.rewardPerExecutor == 0) revert InvalidSpec("reward");
        if (spec.claimTimeout == 0) revert InvalidSpec("claimTimeout");
        if (bytes(spec.modelCid).length == 0 || bytes(spec.inputCid).length == 0) revert InvalidSpec("cid");
        uint256 earliest = block.timestamp + (spec.redundancy > 1 ? revealWindow : 0);
        if (spec.deadline <= earliest) revert InvalidSpec("deadline");

        uint256 escrow = spec.rewardPerExecutor * spec.redundancy;
        taskId = ++taskCount;
        Task storage task = _tasks[taskId];
        task.requester = msg.sender;
        task.status = TaskStatus.Open;
        task.redundancy = spec.redundancy;
        task.determinism = spec.determinism;
        task.deadline = spec.deadline;
        task.claimTimeout = spec.claimTimeout;
        task.maxRuntimeSec = spec.maxRuntimeSec;
        task.minVramMb = spec.minVramMb;
        task.minRamMb = spec.minRamMb;
        task.submittedAt = uint64(block.timestamp);
        task.rewardPerExecutor = spec.rewardPerExecutor;
        task.escrow = escrow;
        task.modelCid = spec.modelCid;
        task.inputCid = spec.inputCid;
        task.framework = spec.framework;
        emit TaskSubmitted(
            taskId, msg.sender, spec.modelCid, spec.inputCid, spec.rewardPerExecutor, spec.redundancy, spec.deadline
        );
        compToken.safeTransferFrom(msg.sender, address(this), escrow);
    }

    /// @notice Claim one slot of an open task (needs `minStake` GOV staked; one slot per executor).
    function claimTask(uint256 taskId) external nonReentrant {
        Task storage task = _openTask(taskId);
        if (block.timestamp > task.deadline) revert DeadlinePassed();
        if (stakeOf[msg.sender] < minStake) revert InsufficientStake();
        Claim storage claim = _claims[taskId][msg.sender];
        if (claim.state != ClaimState.None) revert AlreadyClaimed();
        _expireClaims(taskId, task);
        if (task.activeClaims >= task.redundancy) revert NoOpenSlot();
        if (task.redundancy > 1 && _revealOpen(task)) revert WrongPhase();
        if (_claimants[taskId].length >= MAX_CLAIMANTS) revert TooManyClaimants();

        uint64 expiresAt = uint64(block.timestamp) + task.claimTimeout;
        claim.state = ClaimState.Claimed;
        claim.expiresAt = expiresAt;
        _claimants[taskId].push(msg.sender);
        task.activeClaims += 1;
        activeClaimsOf[msg.sender] += 1;
        emit TaskClaimed(taskId, msg.sender, expiresAt);
    }

    /// @notice R = 1 only: the claimant submits its result before its claim expires.
    function submitResult(uint256 taskId, bytes32 resultHash, string calldata resultCid) external nonReentrant {
        Task storage task = _openTask(taskId);
        if (task.redundancy != 1) revert WrongPhase();
        if (block.timestamp > task.deadline) revert DeadlinePassed();
        Claim storage claim = _liveClaim(taskId, ClaimState.Claimed);
        claim.state = ClaimState.Revealed;
        claim.resultHash = resultHash;
        claim.resultCid = resultCid;
        task.results += 1;
        emit ResultSubmitted(taskId, msg.sender, resultHash, resultCid);
    }

    /// @notice R > 1: the claimant commits keccak256(abi.encode(resultHash, resultCid, salt, executor)).
    function commitResult(uint256 taskId, bytes32 commitment) external nonReentrant {
        Task storage task = _openTask(taskId);
        if (task.redundancy == 1) revert WrongPhase();
        if (_revealOpen(task)) revert WrongPhase();
        Claim storage claim = _liveClaim(taskId, ClaimState.Claimed);
        claim.state = ClaimState.Committed;
        claim.commitment = commitment;
        task.commitments += 1;
        emit ResultCommitted(taskId, msg.sender, commitment);
        if (task.commitments == task.redundancy) emit RevealOpened(taskId);
    }

    /// @notice R > 1: reveal the committed result once the reveal phase is open, before the deadline.
    function revealResult(uint256 taskId, bytes32 resultHash, string calldata resultCid, bytes32 salt)
        external
        nonReentrant
    {
        Task storage task = _openTask(taskId);
        if (!_revealOpen(task)) revert WrongPhase();
        if (block.timestamp > task.deadline) revert DeadlinePassed();
        Claim storage claim = _claims[taskId][msg.sender];
        if (claim.state != ClaimState.Committed) revert NotClaimant();
        if (keccak256(abi.encode(resultHash, resultCid, salt, msg.sender)) != claim.commitment) {
            revert CommitmentMismatch();
        }
        claim.state = ClaimState.Revealed;
        claim.resultHash = resultHash;
        claim.resultCid = resultCid;
        task.results += 1;
        emit ResultSubmitted(taskId, msg.sender, resultHash, resultCid);
    }

    /// @notice Settle a task once all R results are in or the deadline has passed (anyone may call).
    function finalize(uint256 taskId) external nonReentrant {
        Task storage task = _openTask(taskId);
        if (task.results < task.redundancy && block.timestamp <= task.deadline) revert NotFinalizable();
        _settle(taskId, task);
    }

    /// @notice After the deadline: settle the task and return to the requester what nobody earned.
    /// @dev Same settlement as `finalize`; a majority that revealed in time is still paid.
    function refund(uint256 taskId) external nonReentrant {
        Task storage task = _openTask(taskId);
        if (block.timestamp <= task.deadline) revert DeadlineNotPassed();
        _settle(taskId, task);
    }

    /// @notice Mark the task's expired claims as timed out (reopens their slots and frees the
    ///         executors' stake locks); `claimTask` and settlement do the same on their own.
    function expireClaims(uint256 taskId) external nonReentrant {
        _expireClaims(taskId, _openTask(taskId));
    }

    /// @notice The requester cancels a task nobody has claimed yet and gets the escrow back.
    function cancelTask(uint256 taskId) external nonReentrant {
        Task storage task = _openTask(taskId);
        if (msg.sender != task.requester) revert NotRequester();
        if (_claimants[taskId].length > 0) revert HasClaims();
        uint256 amount = task.escrow;
        task.escrow = 0;
        task.status = TaskStatus.Cancelled;
        emit TaskCancelled(taskId, amount);
        compToken.safeTransfer(task.requester, amount);
    }

    // ----------------------------------------------------------------- views

    function getTask(uint256 taskId) external view returns (Task memory) {
        return _tasks[taskId];
    }

    function getClaim(uint256 taskId, address executor) external view returns (Claim memory) {
        return _claims[taskId][executor];
    }

    function getClaimants(uint256 taskId) external view returns (address[] memory) {
        return _claimants[taskId];
    }

    function getExecutorStats(address executor) external view returns (ExecutorStats memory) {
        return _stats[executor];
    }

    /// @notice Slots an executor could claim now (expired claims count as open).
    function openSlots(uint256 taskId) external view returns (uint256) {
        Task storage task = _tasks[taskId];
        if (task.status != TaskStatus.Open || block.timestamp > task.deadline) return 0;
        if (task.redundancy > 1 && _revealOpen(task)) return 0;
        uint256 active;
        address[] storage claimants = _claimants[taskId];
        for (uint256 i = 0; i < claimants.length; ++i) {
            Claim storage claim = _claims[taskId][claimants[i]];
            if (_holdsSlot(claim)) active += 1;
        }
        return task.redundancy - active;
    }

    /// @notice Whether the reveal phase of an R > 1 task is open.
    function revealOpen(uint256 taskId) external view returns (bool) {
        return _revealOpen(_tasks[taskId]);
    }

    /// @notice The commitment an executor must send for a given result.
    function commitmentFor(bytes32 resultHash, string calldata resultCid, bytes32 salt, address executor)
        external
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(resultHash, resultCid, salt, executor));
    }

    // ----------------------------------------------------------------- internals

    function _openTask(uint256 taskId) private view returns (Task storage task) {
        task = _tasks[taskId];
        if (task.status == TaskStatus.None) revert UnknownTask();
        if (task.status != TaskStatus.Open) revert TaskNotOpen();
    }

    function _liveClaim(uint256 taskId, ClaimState expected) private view returns (Claim storage claim) {
        claim = _claims[taskId][msg.sender];
        if (claim.state != expected) revert NotClaimant();
        if (block.timestamp > claim.expiresAt) revert ClaimExpired();
    }

    function _revealOpen(Task storage task) private view returns (bool) {
        if (task.redundancy == 1) return false;
        if (task.commitments == task.redundancy) return true;
        return block.timestamp + revealWindow >= task.deadline;
    }

    function _holdsSlot(Claim storage claim) private view returns (bool) {
        if (claim.state == ClaimState.Committed || claim.state == ClaimState.Revealed) return true;
        return claim.state == ClaimState.Claimed && block.timestamp <= claim.expiresAt;
    }

    /// @dev Mark expired claims as timed out so their slots reopen.
    function _expireClaims(uint256 taskId, Task storage task) private {
        address[] storage claimants = _claimants[taskId];
        for (uint256 i = 0; i < claimants.length; ++i) {
            address executor = claimants[i];
            Claim storage claim = _claims[taskId][executor];
            if (claim.state == ClaimState.Claimed && block.timestamp > claim.expiresAt) {
                claim.state = ClaimState.TimedOut;
                task.activeClaims -= 1;
                activeClaimsOf[executor] -= 1;
                _stats[executor].timedOut += 1;
                emit ClaimTimedOut(taskId, executor);
            }
        }
    }

    /// @dev Effects for every claimant first, then the transfers, slashes and bonus mints.
    function _settle(uint256 taskId, Task storage task) private {
        address[] memory claimants = _claimants[taskId];
        (bool majority, bytes32 winner) = _majority(taskId, task.redundancy, claimants);
        uint256 reward = task.rewardPerExecutor;
        uint256 slashAmount = task.redundancy >= 3 ? (minStake * slashBps) / 10_000 : 0;
        address[] memory paid = new address[](claimants.length);
        uint256 paidCount;
        uint256 totalSlashed;

        for (uint256 i = 0; i < claimants.length; ++i) {
            address executor = claimants[i];
            Claim storage claim = _claims[taskId][executor];
            ClaimState state = claim.state;
            if (state == ClaimState.TimedOut) continue;
            activeClaimsOf[executor] -= 1;
            if (state != ClaimState.Revealed) {
                claim.state = ClaimState.TimedOut;
                _stats[executor].timedOut += 1;
                emit ClaimTimedOut(taskId, executor);
            } else if (majority && claim.resultHash == winner) {
                _stats[executor].completed += 1;
                paid[paidCount++] = executor;
            } else if (majority) {
                _stats[executor].disagreed += 1;
                emit ResultDisagreed(taskId, executor, claim.resultHash);
                uint256 amount = slashAmount < stakeOf[executor] ? slashAmount : stakeOf[executor];
                if (amount > 0) {
                    stakeOf[executor] -= amount;
                    totalSlashed += amount;
                    emit StakeSlashed(executor, taskId, amount);
                }
            }
        }

        uint256 refunded = task.escrow - paidCount * reward;
        task.escrow = 0;
        task.activeClaims = 0;
        task.status = TaskStatus.Finalized;
        task.resultHash = majority ? winner : bytes32(0);
        emit TaskFinalized(taskId, majority, task.resultHash, paidCount, refunded);

        for (uint256 i = 0; i < paidCount; ++i) {
            compToken.safeTransfer(paid[i], reward);
            uint256 bonus = IRewardMinter(address(compToken)).mintRewardBonus(paid[i]);
            emit ExecutorPaid(taskId, paid[i], reward, bonus);
        }
        if (refunded > 0) compToken.safeTransfer(task.requester, refunded);
        if (totalSlashed > 0) govToken.safeTransfer(governance, totalSlashed);
    }

    /// @dev The hash revealed by more than R/2 executors, if any.
    function _majority(uint256 taskId, uint256 redundancy, address[] memory claimants)
        private
        view
        returns (bool found, bytes32 winner)
    {
        for (uint256 i = 0; i < claimants.length; ++i) {
            Claim storage claim = _claims[taskId][claimants[i]];
            if (claim.state != ClaimState.Revealed) continue;
            uint256 votes;
            for (uint256 j = 0; j < claimants.length; ++j) {
                Claim storage other = _claims[taskId][claimants[j]];
                if (other.state == ClaimState.Revealed && other.resultHash == claim.resultHash) votes += 1;
            }
            if (votes * 2 > redundancy) return (true, claim.resultHash);
        }
        return (false, bytes32(0));
    }
}
