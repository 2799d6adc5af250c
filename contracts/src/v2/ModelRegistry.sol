// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title OARN model registry (minimal)
/// @notice Publishers record a model version once: name, version, content CID, format, size in
///         bytes, SHA-256 of the file and licence. An entry never changes; its publisher may only
///         mark it deprecated. Ids are keccak256(publisher, name, version); reads are paginated.
contract ModelRegistry {
    struct Model {
        address publisher;
        bool deprecated;
        uint64 publishedAt;
        uint64 size;
        bytes32 sha256Digest;
        string name;
        string version;
        string cid;
        string format;
        string licence;
    }

    mapping(bytes32 id => Model) private _models;
    bytes32[] private _ids;

    event ModelPublished(bytes32 indexed id, address indexed publisher, string name, string version, string cid);
    event ModelDeprecated(bytes32 indexed id);

    error EmptyValue();
    error AlreadyPublished();
    error NotPublisher();

    function modelId(address publisher, string calldata name, string calldata version) public pure returns (bytes32) {
        return keccak256(abi.encode(publisher, name, version));
    }

    function publish(
        string calldata name,
        string calldata version,
        string calldata cid,
        string calldata format,
        uint64 size,
        bytes32 sha256Digest,
        string calldata licence
    ) external returns (bytes32 id) {
        if (bytes(name).length == 0 || bytes(version).length == 0 || bytes(cid).length == 0) revert EmptyValue();
        if (size == 0 || sha256Digest == bytes32(0)) revert EmptyValue();
        id = modelId(msg.sender, name, version);
        if (_models[id].publisher != address(0)) revert AlreadyPublished();
        _models[id] = Model(msg.sender, false, uint64(block.timestamp), size, sha256Digest, name, version, cid, format, licence);
        _ids.push(id);
        emit ModelPublished(id, msg.sender, name, version, cid);
    }

    function deprecate(bytes32 id) external {
        if (_models[id].publisher != msg.sender) revert NotPublisher();
        _models[id].deprecated = true;
        emit ModelDeprecated(id);
    }

    function getModel(bytes32 id) external view returns (Model memory) {
        return _models[id];
    }

    function modelCount() external view returns (uint256) {
        return _ids.length;
    }

    function modelIds(uint256 start, uint256 count) external view returns (bytes32[] memory ids) {
        uint256 end = start + count > _ids.length ? _ids.length : start + count;
        uint256 n = end > start ? end - start : 0;
        ids = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) ids[i] = _ids[start + i];
    }
}
