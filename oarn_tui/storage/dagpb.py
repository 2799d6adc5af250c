"""dag-pb (PBNode/PBLink) and UnixFS `Data` protobufs, encoded by hand in canonical form.

Canonical dag-pb puts Links (field 2) before Data (field 1); each link writes Hash, Name (empty
string, as Kubo and js-ipfs do) and Tsize. UnixFS writes Type, Data, filesize, then one
non-packed `blocksizes` entry per child (proto2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from oarn_tui.storage.cid import CID, CIDError, decode_varint, encode_varint

UNIXFS_RAW = 0
UNIXFS_DIRECTORY = 1
UNIXFS_FILE = 2

_WIRE_VARINT = 0
_WIRE_BYTES = 2


class DagPBError(ValueError):
    """Bytes that do not decode as dag-pb / UnixFS."""


@dataclass(frozen=True, slots=True)
class PBLink:
    cid: CID
    tsize: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class PBNode:
    links: tuple[PBLink, ...] = ()
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class UnixFSData:
    type: int
    data: bytes = b""
    filesize: int | None = None
    blocksizes: tuple[int, ...] = field(default=())


def _field(number: int, wire: int) -> bytes:
    return encode_varint(number << 3 | wire)


def _bytes_field(number: int, value: bytes) -> bytes:
    return _field(number, _WIRE_BYTES) + encode_varint(len(value)) + value


def encode_pbnode(node: PBNode) -> bytes:
    out = bytearray()
    for link in node.links:
        body = (_bytes_field(1, link.cid.to_bytes()) + _bytes_field(2, link.name.encode())
                + _field(3, _WIRE_VARINT) + encode_varint(link.tsize))
        out += _bytes_field(2, body)
    if node.data is not None:
        out += _bytes_field(1, node.data)
    return bytes(out)


def encode_unixfs(value: UnixFSData) -> bytes:
    out = bytearray(_field(1, _WIRE_VARINT) + encode_varint(value.type))
    if value.data:
        out += _bytes_field(2, value.data)
    if value.filesize is not None:
        out += _field(3, _WIRE_VARINT) + encode_varint(value.filesize)
    for size in value.blocksizes:
        out += _field(4, _WIRE_VARINT) + encode_varint(size)
    return bytes(out)


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """Split a protobuf message into (field number, value) pairs; varint and bytes wires only."""
    out: list[tuple[int, int | bytes]] = []
    offset = 0
    try:
        while offset < len(data):
            tag, offset = decode_varint(data, offset)
            number, wire = tag >> 3, tag & 7
            if wire == _WIRE_VARINT:
                value, offset = decode_varint(data, offset)
                out.append((number, value))
            elif wire == _WIRE_BYTES:
                length, offset = decode_varint(data, offset)
                if offset + length > len(data):
                    raise DagPBError("truncated field")
                out.append((number, bytes(data[offset:offset + length])))
                offset += length
            else:
                raise DagPBError(f"unsupported protobuf wire type {wire}")
    except CIDError as exc:
        raise DagPBError(str(exc)) from None
    return out


def decode_pbnode(data: bytes) -> PBNode:
    links: list[PBLink] = []
    node_data: bytes | None = None
    for number, value in _fields(data):
        if number == 2 and isinstance(value, bytes):
            cid: CID | None = None
            name = ""
            tsize = 0
            for link_number, link_value in _fields(value):
                if link_number == 1 and isinstance(link_value, bytes):
                    try:
                        cid = CID.from_bytes(link_value)
                    except CIDError as exc:
                        raise DagPBError(f"bad link CID: {exc}") from None
                elif link_number == 2 and isinstance(link_value, bytes):
                    name = link_value.decode("utf-8", "replace")
                elif link_number == 3 and isinstance(link_value, int):
                    tsize = link_value
            if cid is None:
                raise DagPBError("link without a hash")
            links.append(PBLink(cid, tsize, name))
        elif number == 1 and isinstance(value, bytes):
            node_data = value
        else:
            raise DagPBError(f"unexpected dag-pb field {number}")
    return PBNode(tuple(links), node_data)


def decode_unixfs(data: bytes) -> UnixFSData:
    kind: int | None = None
    payload = b""
    filesize: int | None = None
    blocksizes: list[int] = []
    for number, value in _fields(data):
        if number == 1 and isinstance(value, int):
            kind = value
        elif number == 2 and isinstance(value, bytes):
            payload = value
        elif number == 3 and isinstance(value, int):
            filesize = value
        elif number == 4 and isinstance(value, int):
            blocksizes.append(value)
    if kind is None:
        raise DagPBError("UnixFS data without a type")
    return UnixFSData(kind, payload, filesize, tuple(blocksizes))


def block_links(cid: CID, data: bytes) -> tuple[CID, ...]:
    """The child CIDs a block links to (raw blocks have none)."""
    if cid.codec != 0x70:
        return ()
    return tuple(link.cid for link in decode_pbnode(data).links)
