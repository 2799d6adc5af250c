"""UnixFS file importer and reader that produce the same CIDs as Kubo and js-ipfs.

Import: fixed-size chunks (256 KiB), balanced layout with at most 174 links per node (parents are
built level by level, left-filled, exactly like js-ipfs's `balanced` builder), leaves either raw
blocks (CIDv1 default) or UnixFS File dag-pb nodes (CIDv0 default). A file of one chunk is that
chunk's own block. Link Tsize is the whole subtree's encoded size (not 0, unlike libp2p's
MerkleDag). The importer streams: memory stays at one chunk plus one pending node per level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from oarn_tui.storage.cid import CID, DAG_PB, RAW, encode_varint
from oarn_tui.storage.dagpb import (
    UNIXFS_FILE,
    UNIXFS_RAW,
    DagPBError,
    PBLink,
    PBNode,
    UnixFSData,
    decode_pbnode,
    decode_unixfs,
    encode_pbnode,
    encode_unixfs,
)
from oarn_tui.storage.limits import DagLimits, DagWalk

CHUNK_SIZE = 262_144
MAX_LINKS = 174

BlockSink = Callable[[CID, bytes], object]  # what it returns is ignored
BlockGetter = Callable[[CID], bytes]


@dataclass(frozen=True)
class ImportOptions:
    """How a file becomes a DAG; the two presets match Kubo's `add` flags."""

    cid_version: int = 1
    raw_leaves: bool = True
    chunk_size: int = CHUNK_SIZE
    max_links: int = MAX_LINKS

    @classmethod
    def v1(cls) -> ImportOptions:
        """`ipfs add --cid-version=1 --raw-leaves --chunker=size-262144`."""
        return cls(1, True)

    @classmethod
    def v0(cls) -> ImportOptions:
        """`ipfs add` with Kubo's historic defaults (CIDv0, UnixFS leaves)."""
        return cls(0, False)


@dataclass(frozen=True, slots=True)
class _Entry:
    cid: CID
    file_size: int
    tsize: int


@dataclass(frozen=True)
class ImportResult:
    cid: CID
    size: int
    dag_size: int
    blocks: int


class FileImporter:
    """Feed bytes with `write`, then `finish` for the root; every block goes to `sink`."""

    def __init__(self, options: ImportOptions | None = None,
                 sink: BlockSink | None = None) -> None:
        self.options = options or ImportOptions()
        if self.options.chunk_size < 1 or self.options.max_links < 2:
            raise ValueError("chunk_size must be >= 1 and max_links >= 2")
        self._sink = sink
        self._buffer = bytearray()
        self._levels: list[list[_Entry]] = []
        self._counts: list[int] = []
        self._size = 0
        self._blocks = 0
        self._finished = False

    def write(self, data: bytes) -> None:
        if self._finished:
            raise RuntimeError("importer already finished")
        chunk_size = self.options.chunk_size
        view = memoryview(data)
        offset = 0
        if self._buffer:
            offset = min(len(view), chunk_size - len(self._buffer))
            self._buffer += view[:offset]
            if len(self._buffer) < chunk_size:
                return
            self._add_leaf(bytes(self._buffer))
            self._buffer.clear()
        while len(view) - offset >= chunk_size:  # whole chunks straight from the caller's bytes
            self._add_leaf(view[offset:offset + chunk_size])
            offset += chunk_size
        self._buffer += view[offset:]

    def finish(self) -> ImportResult:
        if self._finished:
            raise RuntimeError("importer already finished")
        self._finished = True
        if self._buffer or not self._counts:
            self._add_leaf(bytes(self._buffer))
            self._buffer.clear()
        level = 0
        while True:
            pending = self._levels[level]
            if self._counts[level] == 1:
                root = pending[0]
                break
            if pending:
                self._levels[level] = []
                self._add(level + 1, self._parent(pending))
            level += 1
        return ImportResult(root.cid, self._size, root.tsize, self._blocks)

    def _emit(self, cid: CID, block: bytes) -> None:
        self._blocks += 1
        if self._sink is not None:
            self._sink(cid, block)

    def _add_leaf(self, chunk: bytes | memoryview) -> None:
        size = len(chunk)
        self._size += size
        if self.options.raw_leaves:
            cid = CID.for_block(chunk, RAW, 1)
            if self._sink is not None:
                self._emit(cid, bytes(chunk))
            else:
                self._blocks += 1
            self._add(0, _Entry(cid, size, size))
            return
        block = _file_leaf_block(chunk)
        cid = CID.for_block(block, DAG_PB, self.options.cid_version)
        self._emit(cid, block)
        self._add(0, _Entry(cid, size, len(block)))

    def _add(self, level: int, entry: _Entry) -> None:
        if level == len(self._levels):
            self._levels.append([])
            self._counts.append(0)
        pending = self._levels[level]
        pending.append(entry)
        self._counts[level] += 1
        if len(pending) == self.options.max_links:
            self._levels[level] = []
            self._add(level + 1, self._parent(pending))

    def _parent(self, children: list[_Entry]) -> _Entry:
        file_size = sum(child.file_size for child in children)
        data = encode_unixfs(UnixFSData(UNIXFS_FILE, b"", file_size,
                                        tuple(child.file_size for child in children)))
        links = tuple(PBLink(child.cid, child.tsize) for child in children)
        block = encode_pbnode(PBNode(links, data))
        cid = CID.for_block(block, DAG_PB, self.options.cid_version)
        self._emit(cid, block)
        return _Entry(cid, file_size, len(block) + sum(child.tsize for child in children))


def _file_leaf_block(chunk: bytes | memoryview) -> bytes:
    """dag-pb node holding UnixFS {Type: File, Data: chunk, filesize}, built with one copy of
    the chunk (same bytes as encode_pbnode(PBNode((), encode_unixfs(...))))."""
    size = len(chunk)
    head = b"\x08" + encode_varint(UNIXFS_FILE)
    if size:
        head += b"\x12" + encode_varint(size)
    tail = b"\x18" + encode_varint(size)
    inner = len(head) + size + len(tail)
    return b"".join((b"\x0a", encode_varint(inner), head, chunk, tail))


def import_stream(stream: BinaryIO, options: ImportOptions | None = None,
                  sink: BlockSink | None = None) -> ImportResult:
    importer = FileImporter(options, sink)
    read_size = importer.options.chunk_size * 4
    while True:
        data = stream.read(read_size)
        if not data:
            break
        importer.write(data)
    return importer.finish()


def import_bytes(data: bytes, options: ImportOptions | None = None,
                 sink: BlockSink | None = None) -> ImportResult:
    importer = FileImporter(options, sink)
    importer.write(data)
    return importer.finish()


def import_path(path: Path, options: ImportOptions | None = None,
                sink: BlockSink | None = None) -> ImportResult:
    with open(path, "rb") as stream:
        return import_stream(stream, options, sink)


class UnixFSError(ValueError):
    """A block that is not part of a UnixFS file."""


def decode_file_node(cid: CID, block: bytes) -> tuple[bytes, tuple[PBLink, ...], int]:
    """(inline data, child links, file size) of one UnixFS file block."""
    data, links, _blocksizes, size = decode_file_block(cid, block)
    return data, links, size


def decode_file_block(cid: CID, block: bytes
                      ) -> tuple[bytes, tuple[PBLink, ...], tuple[int, ...], int]:
    """(inline data, child links, child block sizes, file size) of one UnixFS file block;
    `UnixFSError` when it is not one."""
    if cid.codec == RAW:
        return block, (), (), len(block)
    if cid.codec != DAG_PB:
        raise UnixFSError(f"{cid} has codec {cid.codec_name}, not a UnixFS file")
    try:
        node = decode_pbnode(block)
        meta = decode_unixfs(node.data or b"")
    except DagPBError as exc:
        raise UnixFSError(f"{cid} is not valid UnixFS: {exc}") from None
    if meta.type not in (UNIXFS_FILE, UNIXFS_RAW):
        raise UnixFSError(f"{cid} is a UnixFS type {meta.type} node, not a file")
    size = meta.filesize if meta.filesize is not None else len(meta.data) + sum(meta.blocksizes)
    return meta.data, node.links, tuple(meta.blocksizes), size


def file_size(cid: CID, block: bytes) -> int:
    """The file size a root block declares."""
    return decode_file_node(cid, block)[2]


def iter_file(root: CID, get_block: BlockGetter, *, verify: bool = True,
              limits: DagLimits | None = None) -> Iterator[bytes]:
    """Yield a file's bytes in order, walking its DAG depth-first through `get_block`.

    With `limits`, every node is checked by a `DagWalk` before its children are read (links,
    depth, repeats, declared sizes) and the bytes met never exceed what the root declares, so a
    DAG bomb in the store stops with `ContentRefused` instead of filling a disk. Memory stays at
    one block plus the pending links along one path."""
    walk = DagWalk(root, limits) if limits is not None else None
    stack: list[tuple[CID, int, int | None, int]] = [(root, 0, None, 0)]
    while stack:
        cid, depth, declared, tsize = stack.pop()
        block = get_block(cid)
        if verify and not cid.verifies(block):
            raise UnixFSError(f"block {cid} does not match its CID")
        if walk is not None:
            node = walk.visit(cid, block, depth, declared, tsize)
            data, links, sizes = node.data, node.links, node.child_sizes
        else:
            data, links, _size = decode_file_node(cid, block)
            sizes = ()
        if data:
            yield data
        for index in range(len(links) - 1, -1, -1):
            link = links[index]
            stack.append((link.cid, depth + 1, sizes[index] if sizes else None, link.tsize))
    if walk is not None:
        walk.finish()


def read_file(root: CID, get_block: BlockGetter, *, verify: bool = True,
              limits: DagLimits | None = None) -> bytes:
    return b"".join(iter_file(root, get_block, verify=verify, limits=limits))
