// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Minimal ENS registry (devnet and tests)
/// @notice The ENS registry ABI that clients use (`owner`, `resolver`, `ttl`, `recordExists`,
///         `setOwner`, `setSubnodeOwner`, `setResolver`, `setTTL`), without operators. The deployer
///         owns the root node; setters are for the node's owner only.
contract ENSRegistry {
    struct Record {
        address owner;
        address resolver;
        uint64 ttl;
    }

    mapping(bytes32 node => Record) private _records;

    event NewOwner(bytes32 indexed node, bytes32 indexed label, address owner);
    event Transfer(bytes32 indexed node, address owner);
    event NewResolver(bytes32 indexed node, address resolver);
    event NewTTL(bytes32 indexed node, uint64 ttl);

    error NotNodeOwner();

    modifier onlyNodeOwner(bytes32 node) {
        if (_records[node].owner != msg.sender) revert NotNodeOwner();
        _;
    }

    constructor() {
        _records[bytes32(0)].owner = msg.sender;
    }

    function setOwner(bytes32 node, address owner_) external onlyNodeOwner(node) {
        _records[node].owner = owner_;
        emit Transfer(node, owner_);
    }

    function setSubnodeOwner(bytes32 node, bytes32 label, address owner_)
        external
        onlyNodeOwner(node)
        returns (bytes32 subnode)
    {
        subnode = keccak256(abi.encodePacked(node, label));
        _records[subnode].owner = owner_;
        emit NewOwner(node, label, owner_);
    }

    function setResolver(bytes32 node, address resolver_) external onlyNodeOwner(node) {
        _records[node].resolver = resolver_;
        emit NewResolver(node, resolver_);
    }

    function setTTL(bytes32 node, uint64 ttl_) external onlyNodeOwner(node) {
        _records[node].ttl = ttl_;
        emit NewTTL(node, ttl_);
    }

    function owner(bytes32 node) external view returns (address) {
        return _records[node].owner;
    }

    function resolver(bytes32 node) external view returns (address) {
        return _records[node].resolver;
    }

    function ttl(bytes32 node) external view returns (uint64) {
        return _records[node].ttl;
    }

    function recordExists(bytes32 node) external view returns (bool) {
        return _records[node].owner != address(0);
    }
}
