// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @title OARN discovery registry (v2)
/// @notice Core addresses (set by governance: the TimelockController), staked RPC providers and
///         bootstrap nodes in swap-and-pop active lists read page by page, and compute nodes whose
///         libp2p peer ID is proven: the node's secp256k1 peer key signs an EIP-712
///         `PeerBinding(account, peerIdHash)`, checked with ecrecover, so nobody can register a
///         peer ID whose key it does not hold (the key holder can always take it back).
///         Providers leave through an exit delay longer than the governance timelock, and are
///         slashed only by governance, only with evidence, at most `maxSlashBps` per slash.
contract OARNRegistryV2 is EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint256 public constant BPS = 10_000;
    bytes32 public constant PEER_BINDING_TYPEHASH = keccak256("PeerBinding(address account,bytes32 peerIdHash)");
    /// @dev libp2p PublicKey protobuf header for a 33-byte secp256k1 key, behind the identity
    ///      multihash prefix (0x00, length 37): peer ID bytes = 0x0025 0802 1221 <compressed key>.
    bytes6 private constant PEER_PREFIX = 0x002508021221;

    enum ProviderKind {
        Rpc,
        Bootstrap
    }

    struct Provider {
        address operator;
        ProviderKind kind;
        bool active;
        uint64 exitAt;
        uint128 stake;
        string endpoint;
    }

    struct Node {
        bytes peerId;
        string capabilities;
        uint64 updatedAt;
    }

    struct Core {
        address taskMarket;
        address govToken;
        address compToken;
        address modelRegistry;
    }

    IERC20 public immutable govToken;
    address public governance;
    Core private _core;
    uint256 public minProviderStake;
    uint256 public maxSlashBps;
    uint256 public exitDelay;
    uint256 public providerCount;

    mapping(uint256 providerId => Provider) private _providers;
    mapping(address operator => mapping(ProviderKind kind => uint256 providerId)) public providerIdOf;
    mapping(ProviderKind kind => uint256[] ids) private _active;
    mapping(uint256 providerId => uint256 indexPlusOne) private _activeIndex;
    mapping(address account => Node) private _nodes;
    mapping(bytes32 peerIdHash => address account) private _accountOfPeer;
    address[] private _nodeAccounts;
    mapping(address account => uint256 indexPlusOne) private _nodeIndex;

    event CoreSet(Core core);
    event GovernanceSet(address governance);
    event ProviderParamsSet(uint256 minProviderStake, uint256 maxSlashBps, uint256 exitDelay);
    event ProviderRegistered(uint256 indexed providerId, address indexed operator, ProviderKind kind, string endpoint, uint256 stake);
    event ProviderExitRequested(uint256 indexed providerId, uint64 exitAt);
    event ProviderExited(uint256 indexed providerId, uint256 returned);
    event ProviderSlashed(uint256 indexed providerId, uint256 amount, bytes32 evidenceHash, string evidenceUri);
    event NodeRegistered(address indexed account, bytes peerId, string capabilities);
    event NodeRemoved(address indexed account, bytes peerId);

    error NotGovernance();
    error ZeroAddress();
    error InvalidParams();
    error InsufficientStake();
    error AlreadyRegistered();
    error NotRegistered();
    error EmptyValue();
    error UnknownProvider();
    error NotReady();
    error NoEvidence();
    error SlashTooLarge();
    error BadPeerSignature();

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance();
        _;
    }

    constructor(IERC20 govToken_, address governance_, uint256 minProviderStake_, uint256 maxSlashBps_, uint256 exitDelay_)
        EIP712("OARN Registry", "2")
    {
        if (address(govToken_) == address(0) || governance_ == address(0)) revert ZeroAddress();
        govToken = govToken_;
        governance = governance_;
        _setProviderParams(minProviderStake_, maxSlashBps_, exitDelay_);
    }

    // ------------------------------------------------------------------ governance

    /// @notice Point discovery at (new) core contracts (governance only).
    function setCore(Core calldata core_) external onlyGovernance {
        _core = core_;
        emit CoreSet(core_);
    }

    function setGovernance(address governance_) external onlyGovernance {
        if (governance_ == address(0)) revert ZeroAddress();
        governance = governance_;
        emit GovernanceSet(governance_);
    }

    function setProviderParams(uint256 minProviderStake_, uint256 maxSlashBps_, uint256 exitDelay_) external onlyGovernance {
        _setProviderParams(minProviderStake_, maxSlashBps_, exitDelay_);
    }

    function _setProviderParams(uint256 minStake_, uint256 maxSlashBps_, uint256 exitDelay_) private {
        if (maxSlashBps_ > BPS || exitDelay_ == 0) revert InvalidParams();
        minProviderStake = minStake_;
        maxSlashBps = maxSlashBps_;
        exitDelay = exitDelay_;
        emit ProviderParamsSet(minStake_, maxSlashBps_, exitDelay_);
    }

    function core() external view returns (Core memory) {
        return _core;
    }

    // ------------------------------------------------------------------ providers

    function registerProvider(ProviderKind kind, string calldata endpoint, uint256 stake)
        external
        nonReentrant
        returns (uint256 providerId)
    {
        if (bytes(endpoint).length == 0) revert EmptyValue();
        if (stake < minProviderStake) revert InsufficientStake();
        if (providerIdOf[msg.sender][kind] != 0) revert AlreadyRegistered();
        providerId = ++providerCount;
        _providers[providerId] = Provider(msg.sender, kind, true, 0, uint128(stake), endpoint);
        providerIdOf[msg.sender][kind] = providerId;
        _activate(providerId, kind);
        emit ProviderRegistered(providerId, msg.sender, kind, endpoint, stake);
        govToken.safeTransferFrom(msg.sender, address(this), stake);
    }

    /// @notice Leave the active list now; the stake returns after `exitDelay` (still slashable).
    function requestExit(ProviderKind kind) external {
        uint256 providerId = providerIdOf[msg.sender][kind];
        if (providerId == 0) revert NotRegistered();
        Provider storage p = _providers[providerId];
        if (p.exitAt != 0) revert AlreadyRegistered();
        p.exitAt = uint64(block.timestamp + exitDelay);
        _deactivate(providerId, p);
        emit ProviderExitRequested(providerId, p.exitAt);
    }

    function completeExit(ProviderKind kind) external nonReentrant {
        uint256 providerId = providerIdOf[msg.sender][kind];
        if (providerId == 0) revert NotRegistered();
        Provider storage p = _providers[providerId];
        if (p.exitAt == 0 || block.timestamp < p.exitAt) revert NotReady();
        uint256 amount = p.stake;
        p.stake = 0;
        providerIdOf[msg.sender][kind] = 0;
        emit ProviderExited(providerId, amount);
        if (amount > 0) govToken.safeTransfer(msg.sender, amount);
    }

    /// @notice Slash a provider on recorded evidence (governance only, capped per slash).
    function slashProvider(uint256 providerId, uint256 amount, bytes32 evidenceHash, string calldata evidenceUri)
        external
        onlyGovernance
        nonReentrant
    {
        Provider storage p = _providers[providerId];
        if (p.operator == address(0)) revert UnknownProvider();
        if (evidenceHash == bytes32(0) || bytes(evidenceUri).length == 0) revert NoEvidence();
        if (amount > (uint256(p.stake) * maxSlashBps) / BPS) revert SlashTooLarge();
        p.stake -= uint128(amount);
        if (p.stake < minProviderStake) _deactivate(providerId, p);
        emit ProviderSlashed(providerId, amount, evidenceHash, evidenceUri);
        if (amount > 0) govToken.safeTransfer(governance, amount);
    }

    function getProvider(uint256 providerId) external view returns (Provider memory) {
        return _providers[providerId];
    }

    function activeProviderCount(ProviderKind kind) external view returns (uint256) {
        return _active[kind].length;
    }

    /// @notice Active providers of `kind`, `count` from `start` (clamped): ids and endpoints.
    function activeProviders(ProviderKind kind, uint256 start, uint256 count)
        external
        view
        returns (uint256[] memory ids, string[] memory endpoints)
    {
        uint256[] storage list = _active[kind];
        uint256 end = start + count > list.length ? list.length : start + count;
        uint256 n = end > start ? end - start : 0;
        ids = new uint256[](n);
        endpoints = new string[](n);
        for (uint256 i = 0; i < n; ++i) {
            ids[i] = list[start + i];
            endpoints[i] = _providers[ids[i]].endpoint;
        }
    }

    function _activate(uint256 providerId, ProviderKind kind) private {
        _active[kind].push(providerId);
        _activeIndex[providerId] = _active[kind].length;
    }

    function _deactivate(uint256 providerId, Provider storage p) private {
        if (!p.active) return;
        p.active = false;
        uint256[] storage list = _active[p.kind];
        uint256 index = _activeIndex[providerId] - 1;
        uint256 last = list[list.length - 1];
        list[index] = last;
        _activeIndex[last] = index + 1;
        list.pop();
        delete _activeIndex[providerId];
    }

    // ------------------------------------------------------------------ compute nodes

    /// @notice The libp2p peer ID (identity multihash bytes) of an uncompressed secp256k1 key.
    function peerIdOf(bytes calldata publicKey) public pure returns (bytes memory) {
        if (publicKey.length != 64) revert EmptyValue();
        uint8 parity = uint8(publicKey[63]) & 1;
        return abi.encodePacked(PEER_PREFIX, bytes1(parity == 1 ? 0x03 : 0x02), publicKey[:32]);
    }

    function peerBindingDigest(address account, bytes calldata peerId) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(PEER_BINDING_TYPEHASH, account, keccak256(peerId))));
    }

    /// @notice Bind the caller to the peer ID of `publicKey` (64-byte x‖y) proven by `peerSignature`
    ///         over `peerBindingDigest(caller, peerId)`; replaces the caller's previous binding and
    ///         takes the peer ID from any account that held it without the key.
    function registerNode(bytes calldata publicKey, bytes calldata peerSignature, string calldata capabilities) external {
        bytes memory peerId = peerIdOf(publicKey);
        address keyAddress = address(uint160(uint256(keccak256(publicKey))));
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(PEER_BINDING_TYPEHASH, msg.sender, keccak256(peerId))));
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, peerSignature);
        if (err != ECDSA.RecoverError.NoError || signer != keyAddress) revert BadPeerSignature();
        bytes32 peerKey = keccak256(peerId);
        address holder = _accountOfPeer[peerKey];
        if (holder != address(0) && holder != msg.sender) _removeNode(holder);
        Node storage node = _nodes[msg.sender];
        if (node.peerId.length != 0) delete _accountOfPeer[keccak256(node.peerId)];
        else {
            _nodeAccounts.push(msg.sender);
            _nodeIndex[msg.sender] = _nodeAccounts.length;
        }
        _accountOfPeer[peerKey] = msg.sender;
        node.peerId = peerId;
        node.capabilities = capabilities;
        node.updatedAt = uint64(block.timestamp);
        emit NodeRegistered(msg.sender, peerId, capabilities);
    }

    function deregisterNode() external {
        if (_nodes[msg.sender].peerId.length == 0) revert NotRegistered();
        _removeNode(msg.sender);
    }

    function _removeNode(address account) private {
        Node storage node = _nodes[account];
        bytes memory peerId = node.peerId;
        delete _accountOfPeer[keccak256(peerId)];
        uint256 index = _nodeIndex[account] - 1;
        address last = _nodeAccounts[_nodeAccounts.length - 1];
        _nodeAccounts[index] = last;
        _nodeIndex[last] = index + 1;
        _nodeAccounts.pop();
        delete _nodeIndex[account];
        delete _nodes[account];
        emit NodeRemoved(account, peerId);
    }

    function getNode(address account) external view returns (Node memory) {
        return _nodes[account];
    }

    function accountOfPeer(bytes calldata peerId) external view returns (address) {
        return _accountOfPeer[keccak256(peerId)];
    }

    function nodeCount() external view returns (uint256) {
        return _nodeAccounts.length;
    }

    function nodeAccounts(uint256 start, uint256 count) external view returns (address[] memory accounts) {
        uint256 total = _nodeAccounts.length;
        uint256 end = start + count > total ? total : start + count;
        uint256 n = end > start ? end - start : 0;
        accounts = new address[](n);
        for (uint256 i = 0; i < n; ++i) accounts[i] = _nodeAccounts[start + i];
    }
}
