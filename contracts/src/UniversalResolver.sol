// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The part of the ENS registry the universal resolver reads.
interface IENSResolverLookup {
    function resolver(bytes32 node) external view returns (address);
}

/// @title Minimal ENS universal resolver (devnet and tests)
/// @notice web3.py 8's ENS module resolves every name through a universal resolver at a fixed
///         address (`resolve(bytes dnsName, bytes data)`, `findResolver(bytes dnsName)`). This is
///         the smallest compatible one: it walks from the name up to its parents until the
///         registry has a resolver, then forwards `data` to it with a static call. The devnet
///         copies its runtime code (the registry address is an immutable inside it) to the address
///         web3 expects. Reverse resolution is not supported.
contract UniversalResolver {
    IENSResolverLookup public immutable registry;

    error ResolverNotFound(bytes name);
    error ResolverError(bytes returnData);
    error ReverseNotSupported();
    error MalformedName();

    constructor(IENSResolverLookup registry_) {
        registry = registry_;
    }

    /// @notice Resolve `data` (an ABI-encoded resolver call) for the DNS-encoded `name`.
    function resolve(bytes calldata name, bytes calldata data) external view returns (bytes memory, address) {
        (address resolverAddress,,) = findResolver(name);
        if (resolverAddress == address(0)) revert ResolverNotFound(name);
        (bool ok, bytes memory result) = resolverAddress.staticcall(data);
        if (!ok) revert ResolverError(result);
        return (result, resolverAddress);
    }

    /// @notice The resolver of `name` or of its closest parent that has one.
    function findResolver(bytes calldata name) public view returns (address, bytes32, uint256) {
        uint256 offset = 0;
        while (offset < name.length) {
            bytes32 node = namehash(name, offset);
            address found = registry.resolver(node);
            if (found != address(0)) return (found, node, offset);
            uint256 labelLength = uint8(name[offset]);
            if (labelLength == 0) break;
            offset += 1 + labelLength;
        }
        return (address(0), bytes32(0), 0);
    }

    function reverse(bytes calldata, uint256) external pure returns (string memory, address, address) {
        revert ReverseNotSupported();
    }

    /// @notice ENS namehash of the DNS-encoded name starting at `offset`.
    function namehash(bytes calldata name, uint256 offset) public pure returns (bytes32) {
        if (offset >= name.length) revert MalformedName();
        uint256 labelLength = uint8(name[offset]);
        if (labelLength == 0) return bytes32(0);
        uint256 end = offset + 1 + labelLength;
        if (end >= name.length) revert MalformedName();
        bytes32 labelHash = keccak256(name[offset + 1:end]);
        return keccak256(abi.encodePacked(namehash(name, end), labelHash));
    }
}
