"""The runtime's one snapshot cache: status sections, their parsed lists and the last snapshot.

A dashboard asks for the status every second and most seconds nothing changed. One
`SnapshotCache`, owned by one `NodeRuntime`, keeps:

- each status section (the task part, the peer part) while its key (a revision and a limit) is
  unchanged, so the status document shares it between calls (read-only);
- the parsed, frozen form of each section's lists (`task_list`, `peer_list`), so a snapshot
  rebuilt because, say, the chain height moved does not parse 200 tasks again;
- the last `NodeSnapshot` with its key and time, handed back while the node is quiet.

Nothing lives at module level: two runtimes in one process never share an entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from oarn_tui.runtime.snapshot import LIST_PARSERS, NodeSnapshot, ParsedList, parse_list


@dataclass
class _Section:
    key: Hashable
    part: dict[str, Any]
    parsed: dict[str, ParsedList] = field(default_factory=dict)


class SnapshotCache:
    """See the module docstring. Not thread-safe for writes: the runtime's loop writes; any
    thread may call `snapshot()` (it reads one tuple)."""

    def __init__(self) -> None:
        self._sections: dict[str, _Section] = {}
        self._snapshot: tuple[Hashable, float, NodeSnapshot] | None = None

    def section(self, name: str, key: Hashable,
                build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """`build()`, reused while `key` is unchanged (shared between documents: read-only)."""
        cached = self._sections.get(name)
        if cached is None or cached.key != key:
            cached = _Section(key, build())
            self._sections[name] = cached
        return cached.part

    def parsed_lists(self, doc: Mapping[str, Any]) -> dict[str, ParsedList]:
        """The parsed form of those lists of `doc` that are a cached section's very list."""
        found: dict[str, ParsedList] = {}
        for section in self._sections.values():
            for name in LIST_PARSERS:
                source = section.part.get(name)
                if source is None or doc.get(name) is not source:
                    continue
                if name not in section.parsed:
                    section.parsed[name] = parse_list(name, source)
                found[name] = section.parsed[name]
        return found

    def snapshot(self, key: Hashable, max_age_s: float) -> NodeSnapshot | None:
        """The last snapshot if it was built under `key` less than `max_age_s` ago."""
        cached = self._snapshot
        if cached is None or cached[0] != key or time.monotonic() - cached[1] >= max_age_s:
            return None
        return cached[2]

    def keep(self, key: Hashable, snapshot: NodeSnapshot) -> None:
        self._snapshot = (key, time.monotonic(), snapshot)
