"""Limits on content fetched by CID: what a hostile DAG may cost this node before it is refused.

A UnixFS file is a tree of blocks that peers choose. Without limits two blocks can declare a
100 MiB file (one node listing the same leaf hundreds of times), a chain of nodes can be as deep
as memory allows, and a root can declare any size. `DagWalk` checks every node of one file
against `DagLimits` as the node is met, before any of its children is fetched:

- the root's declared file size against `max_bytes` (the task's declared size or the node's);
- links per node, depth, blocks per file, and how often one block may occur in the file;
- each node's declared size against what its parent declared for it, its `blocksizes` against
  its own size, its encoded bytes plus its links' Tsizes against its own link's Tsize (and the
  root's against the file limit plus an allowance for structure);
- the bytes actually met against the root's declaration (so assembly never writes more).

A refusal raises `ContentRefused`: the content itself is bad, so no other peer can fix it (not a
retryable fetch error). `FetchBudget` is a disk quota shared by the fetches of one task.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from oarn_tui.storage.cid import CID
from oarn_tui.storage.dagpb import (
    PBLink,
)

GIB = 1 << 30


class ContentRefused(ValueError):
    """Content that breaks this node's limits (too big, too deep, a DAG bomb); not retryable."""


@dataclass(frozen=True)
class DagLimits:
    """Caps for one file's DAG; defaults fit multi-GB models in 256 KiB chunks."""

    max_bytes: int = 64 * GIB
    max_links: int = 1024
    max_depth: int = 32
    max_repeats: int = 32
    max_blocks: int = 1 << 20

    def capped(self, declared_bytes: int | None) -> DagLimits:
        """These limits, with the file size capped at a task's declared size (when it has one)."""
        if declared_bytes is None:
            return self
        return replace(self, max_bytes=min(self.max_bytes, max(0, int(declared_bytes))))


@dataclass(frozen=True, slots=True)
class FileNode:
    """One checked node of a file: its inline bytes, its links and their declared sizes."""

    data: bytes
    links: tuple[PBLink, ...]
    child_sizes: tuple[int, ...]
    size: int


def decode_file_node(cid: CID, block: bytes) -> FileNode:
    """Decode one UnixFS file block (raw leaf or dag-pb File/Raw node); `ContentRefused` if not."""
    from oarn_tui.storage.unixfs import UnixFSError, decode_file_block

    try:
        return FileNode(*decode_file_block(cid, block))
    except UnixFSError as exc:
        raise ContentRefused(str(exc)) from None


class DagWalk:
    """Checks the nodes of one file, in any order, against `limits` (see the module docstring).

    `visit` is called once per occurrence of a block in the file (a block linked twice is
    visited twice); it returns the checked node or raises `ContentRefused`."""

    def __init__(self, root: CID, limits: DagLimits | None = None) -> None:
        self.root = root
        self.limits = limits or DagLimits()
        self.total: int | None = None
        self.done = 0
        self.blocks = 0
        self._seen: dict[str, int] = {}
        # encoded bytes may exceed file bytes by the DAG's structure: a generous allowance
        self.transfer_cap = self.limits.max_bytes + self.limits.max_bytes // 4 + (1 << 20)

    def visit(self, cid: CID, block: bytes | int, depth: int = 0,
              declared_size: int | None = None, link_tsize: int = 0) -> FileNode:
        """`block` is the block's bytes, or for a raw leaf (codec raw) just its size: a leaf's
        bytes are checked by their hash and need not pass through here."""
        if isinstance(block, int):
            if cid.codec != 0x55:
                raise ContentRefused(f"{cid} has codec {cid.codec_name}; its bytes are needed")
            return self._visit(cid, b"", block, depth, declared_size, link_tsize)
        return self._visit(cid, block, len(block), depth, declared_size, link_tsize)

    def _visit(self, cid: CID, block: bytes, length: int, depth: int,
               declared_size: int | None, link_tsize: int) -> FileNode:
        limits = self.limits
        if depth > limits.max_depth:
            raise ContentRefused(f"{self.root} is deeper than {limits.max_depth} levels")
        self.blocks += 1
        if self.blocks > limits.max_blocks:
            raise ContentRefused(f"{self.root} has more than {limits.max_blocks} blocks")
        seen = self._seen.get(cid.key, 0) + 1
        if seen > limits.max_repeats:
            raise ContentRefused(f"{self.root} repeats block {cid} more than "
                                 f"{limits.max_repeats} times (a DAG bomb)")
        self._seen[cid.key] = seen
        if link_tsize and length > link_tsize:
            raise ContentRefused(f"block {cid} has {length} bytes, more than the "
                                 f"{link_tsize} its link declares")
        if cid.codec == 0x55 and not block:  # a raw leaf known by its size
            node = FileNode(b"", (), (), length)
            leaf_bytes = length
        else:
            node = decode_file_node(cid, block)
            leaf_bytes = len(node.data)
        if declared_size is not None and node.size != declared_size:
            raise ContentRefused(f"block {cid} declares {node.size} bytes where its parent "
                                 f"declares {declared_size}")
        if self.total is None:
            self.total = node.size
            if node.size > limits.max_bytes:
                raise ContentRefused(f"{self.root} declares {node.size} bytes, over the limit "
                                     f"of {limits.max_bytes}")
        if node.links or block or not length:
            self._check_children(cid, block, node, link_tsize)
        self.done += leaf_bytes
        if self.done > self.total:
            raise ContentRefused(f"{self.root} holds more than the {self.total} bytes it "
                                 "declares")
        return node

    def _check_children(self, cid: CID, block: bytes, node: FileNode,
                        link_tsize: int) -> None:
        links = node.links
        if len(links) > self.limits.max_links:
            raise ContentRefused(f"block {cid} has {len(links)} links, over the limit of "
                                 f"{self.limits.max_links}")
        if not links:
            if len(node.data) != node.size:
                raise ContentRefused(f"leaf {cid} holds {len(node.data)} bytes but declares "
                                     f"{node.size}")
            return
        if len(node.child_sizes) != len(links):
            raise ContentRefused(f"block {cid} lists {len(links)} links but "
                                 f"{len(node.child_sizes)} block sizes")
        if any(size <= 0 for size in node.child_sizes):
            raise ContentRefused(f"block {cid} links an empty child")
        if len(node.data) + sum(node.child_sizes) != node.size:
            raise ContentRefused(f"block {cid} declares {node.size} bytes but its parts sum to "
                                 f"{len(node.data) + sum(node.child_sizes)}")
        below = sum(link.tsize for link in links)  # Tsize: encoded bytes of each subtree
        if link_tsize and len(block) + below > link_tsize:
            raise ContentRefused(f"block {cid}'s subtrees declare {len(block) + below} bytes, "
                                 f"more than the {link_tsize} its link declares")
        if below > self.transfer_cap:
            raise ContentRefused(f"{self.root} declares {below} bytes to transfer, over the "
                                 f"limit of {self.transfer_cap}")

    def finish(self) -> int:
        """The file size, after checking every declared byte was met."""
        total = self.total or 0
        if self.done != total:
            raise ContentRefused(f"{self.root} declares {total} bytes but its blocks hold "
                                 f"{self.done}")
        return total


class FetchBudget:
    """Disk quota shared by the fetches of one task (model + input): each file's declared size
    is reserved before its children are fetched."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.reserved = 0
        self._roots: set[str] = set()
        self._lock = threading.Lock()

    def reserve(self, root: CID, size: int) -> None:
        """Count `root`'s declared size once (a retried fetch of the same root is free)."""
        with self._lock:
            if root.key in self._roots:
                return
            if self.reserved + size > self.max_bytes:
                raise ContentRefused(
                    f"{root} declares {size} bytes; with {self.reserved} already fetched for "
                    f"this task that is over the task's disk quota of {self.max_bytes}")
            self.reserved += size
            self._roots.add(root.key)


__all__ = ["ContentRefused", "DagLimits", "DagWalk", "FetchBudget", "FileNode",
           "decode_file_node"]
