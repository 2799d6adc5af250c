// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The part of the ENS registry the resolver reads.
interface IENSOwner {
    function owner(bytes32 node) external view returns (address);
}

/// @title Minimal ENS public resolver (devnet and tests)
/// @notice `addr(bytes32)`, `name(bytes32)` and `text(bytes32,string)` records with the ENS ABI,
///         settable only by the node's owner in the ENS registry; ERC-165 reports exactly these
///         interfaces (no ENSIP-10 wildcard resolution).
contract PublicResolver {
    bytes4 private constant INTERFACE_ERC165 = 0x01ffc9a7;
    bytes4 private constant INTERFACE_ADDR = 0x3b3b57de;
    bytes4 private constant INTERFACE_NAME = 0x691f3431;
    bytes4 private constant INTERFACE_TEXT = 0x59d1d43c;

    IENSOwner public immutable ens;

    mapping(bytes32 node => address) private _addresses;
    mapping(bytes32 node => string) private _names;
    mapping(bytes32 node => mapping(string key => string)) private _texts;

    event AddrChanged(bytes32 indexed node, address a);
    event NameChanged(bytes32 indexed node, string name);
    event TextChanged(bytes32 indexed node, string indexed indexedKey, string key, string value);

    error NotNodeOwner();

    modifier onlyNodeOwner(bytes32 node) {
        if (ens.owner(node) != msg.sender) revert NotNodeOwner();
        _;
    }

    constructor(IENSOwner ens_) {
        ens = ens_;
    }

    function setAddr(bytes32 node, address a) external onlyNodeOwner(node) {
        _addresses[node] = a;
        emit AddrChanged(node, a);
    }

    function setName(bytes32 node, string calldata name_) external onlyNodeOwner(node) {
        _names[node] = name_;
        emit NameChanged(node, name_);
    }

    function setText(bytes32 node, string calldata key, string calldata value) external onlyNodeOwner(node) {
        _texts[node][key] = value;
        emit TextChanged(node, key, key, value);
    }

    function addr(bytes32 node) external view returns (address) {
        return _addresses[node];
    }

    function name(bytes32 node) external view returns (string memory) {
        return _names[node];
    }

    function text(bytes32 node, string calldata key) external view returns (string memory) {
        return _texts[node][key];
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == INTERFACE_ERC165 || interfaceId == INTERFACE_ADDR || interfaceId == INTERFACE_NAME
            || interfaceId == INTERFACE_TEXT;
    }
}
