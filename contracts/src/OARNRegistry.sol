// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @notice The part of TaskRegistry the registry reads for discovery.
interface ITaskRegistryStake {
    function minStake() external view returns (uint256);
}

/// @title OARN discovery registry
/// @notice The single entry point for discovery: clients given only this address (or the ENS name
///         that resolves to it) find the core contracts (immutable), the staked RPC providers and
///         bootstrap nodes, and the registered compute nodes (account → libp2p peer ID +
///         capability summary). Providers lock at least `minProviderStake` GOV; governance can
///         slash them (the slashed GOV goes to governance), which deactivates a provider whose
///         stake falls below the minimum.
contract OARNRegistry is ReentrancyGuard {
    using SafeERC20 for IERC20;

    enum ProviderKind {
        Rpc,
        Bootstrap
    }

    struct Provider {
        address operator;
        ProviderKind kind;
        bool active;
        uint64 registeredAt;
        uint256 stake;
        string endpoint;
    }

    struct Node {
        string peerId;
        string capabilities;
        uint64 registeredAt;
        uint64 updatedAt;
    }

    address public immutable taskRegistry;
    address public immutable govToken;
    address public immutable compToken;
    address public immutable governance;
    address public immutable validator;

    uint256 public minProviderStake;
    uint256 public providerCount;

    mapping(uint256 providerId => Provider) private _providers;
    mapping(address operator => mapping(ProviderKind kind => uint256 providerId)) public providerIdOf;
    mapping(address account => Node) private _nodes;
    mapping(bytes32 peerIdHash => address account) private _accountOfPeer;
    address[] private _nodeAccounts;

    event ProviderRegistered(uint256 indexed providerId, address indexed operator, ProviderKind kind, string endpoint, uint256 stake);
    event ProviderUpdated(uint256 indexed providerId, string endpoint);
    event ProviderStakeAdded(uint256 indexed providerId, uint256 amount, uint256 total);
    event ProviderDeregistered(uint256 indexed providerId, uint256 returned);
    event ProviderSlashed(uint256 indexed providerId, uint256 amount, bool active, string reason);
    event MinProviderStakeSet(uint256 minProviderStake);
    event NodeRegistered(address indexed account, string peerId, string capabilities);
    event NodeUpdated(address indexed account, string peerId, string capabilities);

    error NotGovernance();
    error ZeroAddress();
    error InsufficientStake();
    error AlreadyRegistered();
    error NotRegistered();
    error EmptyValue();
    error PeerIdTaken();
    error UnknownProvider();

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance();
        _;
    }

    constructor(
        address taskRegistry_,
        address govToken_,
        address compToken_,
        address governance_,
        address validator_,
        uint256 minProviderStake_
    ) {
        if (taskRegistry_ == address(0) || govToken_ == address(0) || compToken_ == address(0)) revert ZeroAddress();
        if (governance_ == address(0)) revert ZeroAddress();
        taskRegistry = taskRegistry_;
        govToken = govToken_;
        compToken = compToken_;
        governance = governance_;
        validator = validator_;
        minProviderStake = minProviderStake_;
    }

    // ----------------------------------------------------------------- core addresses

    /// @notice Every core address in one call.
    function coreAddresses()
        external
        view
        returns (address taskRegistry_, address govToken_, address compToken_, address governance_, address validator_)
    {
        return (taskRegistry, govToken, compToken, governance, validator);
    }

    /// @notice The GOV stake an executor needs in the TaskRegistry to claim tasks.
    function minExecutorStake() external view returns (uint256) {
        return ITaskRegistryStake(taskRegistry).minStake();
    }

    // ----------------------------------------------------------------- providers

    /// @notice Register the caller as an RPC provider (`kind` 0, endpoint = URL) or a bootstrap
    ///         node (`kind` 1, endpoint = multiaddr with /p2p/ peer ID), locking `stake` GOV.
    function registerProvider(ProviderKind kind, string calldata endpoint, uint256 stake)
        external
        nonReentrant
        returns (uint256 providerId)
    {
        if (bytes(endpoint).length == 0) revert EmptyValue();
        if (stake < minProviderStake) revert InsufficientStake();
        if (providerIdOf[msg.sender][kind] != 0) revert AlreadyRegistered();
        providerId = ++providerCount;
        _providers[providerId] = Provider({
            operator: msg.sender,
            kind: kind,
            active: true,
            registeredAt: uint64(block.timestamp),
            stake: stake,
            endpoint: endpoint
        });
        providerIdOf[msg.sender][kind] = providerId;
        emit ProviderRegistered(providerId, msg.sender, kind, endpoint, stake);
        IERC20(govToken).safeTransferFrom(msg.sender, address(this), stake);
    }

    /// @notice Change the caller's endpoint of one kind.
    function updateProviderEndpoint(ProviderKind kind, string calldata endpoint) external {
        if (bytes(endpoint).length == 0) revert EmptyValue();
        uint256 providerId = _ownProvider(kind);
        _providers[providerId].endpoint = endpoint;
        emit ProviderUpdated(providerId, endpoint);
    }

    /// @notice Add GOV to the caller's provider stake (reactivates it once at the minimum).
    function addProviderStake(ProviderKind kind, uint256 amount) external nonReentrant {
        uint256 providerId = _ownProvider(kind);
        Provider storage provider = _providers[providerId];
        provider.stake += amount;
        if (provider.stake >= minProviderStake) provider.active = true;
        emit ProviderStakeAdded(providerId, amount, provider.stake);
        IERC20(govToken).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Leave the provider list and take the remaining stake back.
    function deregisterProvider(ProviderKind kind) external nonReentrant {
        uint256 providerId = _ownProvider(kind);
        Provider storage provider = _providers[providerId];
        uint256 amount = provider.stake;
        provider.stake = 0;
        provider.active = false;
        providerIdOf[msg.sender][kind] = 0;
        emit ProviderDeregistered(providerId, amount);
        if (amount > 0) IERC20(govToken).safeTransfer(msg.sender, amount);
    }

    /// @notice Slash a provider's stake for misbehaviour (governance only).
    function slashProvider(uint256 providerId, uint256 amount, string calldata reason)
        external
        onlyGovernance
        nonReentrant
    {
        Provider storage provider = _providers[providerId];
        if (provider.operator == address(0)) revert UnknownProvider();
        uint256 slashed = amount < provider.stake ? amount : provider.stake;
        provider.stake -= slashed;
        if (provider.stake < minProviderStake) provider.active = false;
        emit ProviderSlashed(providerId, slashed, provider.active, reason);
        if (slashed > 0) IERC20(govToken).safeTransfer(governance, slashed);
    }

    /// @notice Set the GOV stake providers need (governance only; applies to new registrations).
    function setMinProviderStake(uint256 minProviderStake_) external onlyGovernance {
        minProviderStake = minProviderStake_;
        emit MinProviderStakeSet(minProviderStake_);
    }

    function getProvider(uint256 providerId) external view returns (Provider memory) {
        return _providers[providerId];
    }

    /// @notice Endpoints of the active RPC providers.
    function getRpcProviders() external view returns (string[] memory) {
        return _activeEndpoints(ProviderKind.Rpc);
    }

    /// @notice Multiaddrs of the active bootstrap nodes.
    function getBootstrapNodes() external view returns (string[] memory) {
        return _activeEndpoints(ProviderKind.Bootstrap);
    }

    // ----------------------------------------------------------------- compute nodes

    /// @notice Link the caller's account to its libp2p peer ID and capability summary (upsert).
    function registerNode(string calldata peerId, string calldata capabilities) external {
        if (bytes(peerId).length == 0) revert EmptyValue();
        bytes32 peerKey = keccak256(bytes(peerId));
        address holder = _accountOfPeer[peerKey];
        if (holder != address(0) && holder != msg.sender) revert PeerIdTaken();
        Node storage node = _nodes[msg.sender];
        bool isNew = node.registeredAt == 0;
        if (!isNew) delete _accountOfPeer[keccak256(bytes(node.peerId))];
        _accountOfPeer[peerKey] = msg.sender;
        node.peerId = peerId;
        node.capabilities = capabilities;
        node.updatedAt = uint64(block.timestamp);
        if (isNew) {
            node.registeredAt = uint64(block.timestamp);
            _nodeAccounts.push(msg.sender);
            emit NodeRegistered(msg.sender, peerId, capabilities);
        } else {
            emit NodeUpdated(msg.sender, peerId, capabilities);
        }
    }

    function getNode(address account) external view returns (Node memory) {
        return _nodes[account];
    }

    function isNodeRegistered(address account) external view returns (bool) {
        return _nodes[account].registeredAt != 0;
    }

    /// @notice The account that registered `peerId`, or zero.
    function accountOfPeer(string calldata peerId) external view returns (address) {
        return _accountOfPeer[keccak256(bytes(peerId))];
    }

    function nodeCount() external view returns (uint256) {
        return _nodeAccounts.length;
    }

    /// @notice Registered accounts in registration order, `count` from `start` (clamped).
    function nodeAccounts(uint256 start, uint256 count) external view returns (address[] memory accounts) {
        uint256 total = _nodeAccounts.length;
        if (start >= total) return new address[](0);
        uint256 end = start + count > total ? total : start + count;
        accounts = new address[](end - start);
        for (uint256 i = start; i < end; ++i) {
            accounts[i - start] = _nodeAccounts[i];
        }
    }

    // ----------------------------------------------------------------- internals

    function _ownProvider(ProviderKind kind) private view returns (uint256 providerId) {
        providerId = providerIdOf[msg.sender][kind];
        if (providerId == 0) revert NotRegistered();
    }

    function _activeEndpoints(ProviderKind kind) private view returns (string[] memory endpoints) {
        uint256 count;
        for (uint256 id = 1; id <= providerCount; ++id) {
            if (_providers[id].active && _providers[id].kind == kind) count += 1;
        }
        endpoints = new string[](count);
        uint256 index;
        for (uint256 id = 1; id <= providerCount; ++id) {
            Provider storage provider = _providers[id];
            if (provider.active && provider.kind == kind) endpoints[index++] = provider.endpoint;
        }
    }
}
