"""Frames between the node and its workers: a JSON header plus raw payload bytes.

Workers run untrusted models, so the node never unpickles anything a worker sends: replies are
parsed as JSON and safetensors only.
"""

from __future__ import annotations

import json
import struct
from typing import Any

MAX_HEADER = 16 * 1024 * 1024


class FrameError(ValueError):
    """A malformed frame (a worker that misbehaves)."""


def encode_frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<I", len(text)) + text + payload


def decode_frame(data: bytes) -> tuple[dict[str, Any], memoryview]:
    """Header and a zero-copy view of the payload."""
    if len(data) < 4:
        raise FrameError("frame shorter than its length prefix")
    (size,) = struct.unpack("<I", data[:4])
    if size > min(MAX_HEADER, len(data) - 4):
        raise FrameError("frame header length exceeds the frame")
    try:
        header = json.loads(data[4:4 + size])
    except ValueError:
        raise FrameError("frame header is not JSON") from None
    if not isinstance(header, dict):
        raise FrameError("frame header is not an object")
    return header, memoryview(data)[4 + size:]
