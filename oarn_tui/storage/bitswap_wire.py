"""Bitswap's wire format (1.2.0, 1.1.0, 1.0.0): protocol ids, CID prefixes of 1.1.0 payloads,
and length-prefixed protobuf `Message`s (libp2p's generated `bitswap_pb2`) read from a stream
with a size bound. The engine (`storage/engine.py`) speaks the protocol on top of it."""

from __future__ import annotations

import hashlib
from typing import Any

from libp2p.bitswap.pb.bitswap_pb2 import Message
from libp2p.custom_types import TProtocol

from oarn_tui.storage.cid import CID, DAG_PB, RAW, CIDError, decode_varint, encode_varint

PROTOCOL_V120 = TProtocol("/ipfs/bitswap/1.2.0")
PROTOCOL_V110 = TProtocol("/ipfs/bitswap/1.1.0")
PROTOCOL_V100 = TProtocol("/ipfs/bitswap/1.0.0")
PROTOCOLS = (PROTOCOL_V120, PROTOCOL_V110, PROTOCOL_V100)
MAX_MESSAGE_BYTES = 4 << 20  # what Kubo and Helia accept


def cid_prefix(cid: CID) -> bytes:
    """The 1.1.0 payload prefix: version, codec, multihash type and length."""
    return encode_varint(cid.version) + encode_varint(cid.codec) + bytes([0x12, 0x20])


def cid_from_prefix(prefix: bytes, data: bytes) -> CID | None:
    """The CID a 1.1.0 payload names (hashing `data`), None for a prefix we do not accept."""
    try:
        version, offset = decode_varint(prefix)
        codec, offset = decode_varint(prefix, offset)
        hash_type, offset = decode_varint(prefix, offset)
        length, offset = decode_varint(prefix, offset)
        if hash_type != 0x12 or length != 32 or codec not in (RAW, DAG_PB):
            return None
        return CID(version, codec, hashlib.sha256(data).digest())
    except (CIDError, ValueError):
        return None


def encode_message(msg: Message) -> bytes:
    body = msg.SerializeToString()
    return encode_varint(len(body)) + body


class MessageReader:
    """Length-prefixed messages from one stream (bounded by `MAX_MESSAGE_BYTES`)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def _fill(self) -> bool:
        try:
            chunk = await self.stream.read(1 << 20)
        except Exception:  # EOF / reset / closed connection
            return False
        if not chunk:
            return False
        self.buffer += chunk
        return True

    async def next(self) -> Message | None:
        while True:
            try:
                length, offset = decode_varint(bytes(self.buffer[:10]))
            except CIDError:
                if len(self.buffer) >= 10:
                    raise ValueError("bad length prefix") from None
                if not await self._fill():
                    return None
                continue
            if length > MAX_MESSAGE_BYTES:
                raise ValueError(f"message of {length} bytes is over {MAX_MESSAGE_BYTES}")
            while len(self.buffer) < offset + length:
                if not await self._fill():
                    return None
            body = bytes(self.buffer[offset:offset + length])
            del self.buffer[:offset + length]
            msg = Message()
            msg.ParseFromString(body)
            return msg
