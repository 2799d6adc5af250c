"""Deep read-only copies of JSON-like data, for snapshots that must not change under a reader.

`freeze` turns dicts into read-only mappings (`types.MappingProxyType` over a private copy) and
lists/sets into tuples, all the way down; `thaw` turns the result back into plain JSON types
(for `json.dumps` and `status --json`). Anything else (str, int, float, bool, None, frozen
dataclasses) is returned as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

EMPTY: Mapping[str, Any] = MappingProxyType({})


def freeze(value: Any) -> Any:
    """A deep read-only copy of `value` (see the module docstring)."""
    if isinstance(value, Mapping):  # always a private copy: a proxy's dict may be shared
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(freeze(item) for item in value)
    return value


def freeze_mapping(value: Any) -> Mapping[str, Any]:
    """`freeze(value)` for a field that must be a mapping: anything else becomes empty."""
    return freeze(value) if isinstance(value, Mapping) and value else EMPTY


def thaw(value: Any) -> Any:
    """Plain dicts and lists again (a fresh copy the caller may change)."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(item) for item in value]
    return value

