"""CIDs as IPFS writes them: CIDv0 (base58btc `Qm…`) and CIDv1 (base32 `b…`), sha2-256 only.

Written by hand (varint, base32, base58btc are a few lines each) so the node needs no extra
dependency and every byte of a CID is under our control.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
SHA2_256_LENGTH = 32
CODEC_NAMES = {RAW: "raw", DAG_PB: "dag-pb"}

_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: index for index, char in enumerate(_BASE58_ALPHABET)}


class CIDError(ValueError):
    """A string or byte sequence that is not a CID this node understands."""


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128, as multiformats and protobuf use."""
    if value < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes, offset: int = 0) -> tuple[int, int]:
    """Return (value, next offset); raise CIDError on truncated or over-long input."""
    value = 0
    shift = 0
    while True:
        if offset >= len(data):
            raise CIDError("truncated varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7
        if shift > 63:
            raise CIDError("varint too long")


def base58btc_encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    chars: list[str] = []
    while number:
        number, remainder = divmod(number, 58)
        chars.append(_BASE58_ALPHABET[remainder])
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + "".join(reversed(chars))


def base58btc_decode(text: str) -> bytes:
    number = 0
    for char in text:
        if char not in _BASE58_INDEX:
            raise CIDError(f"invalid base58 character {char!r}")
        number = number * 58 + _BASE58_INDEX[char]
    leading_zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * leading_zeros + body


def base32_encode(data: bytes) -> str:
    """RFC 4648 base32, lower case, no padding (multibase `b`)."""
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def base32_decode(text: str) -> bytes:
    padded = text.upper() + "=" * (-len(text) % 8)
    try:
        return base64.b32decode(padded)
    except ValueError as exc:
        raise CIDError(f"invalid base32: {exc}") from None


@dataclass(frozen=True, slots=True)
class CID:
    """A content identifier: version, codec and a sha2-256 digest."""

    version: int
    codec: int
    digest: bytes

    def __post_init__(self) -> None:
        if self.version not in (0, 1):
            raise CIDError(f"unsupported CID version {self.version}")
        if self.version == 0 and self.codec != DAG_PB:
            raise CIDError("CIDv0 is always dag-pb")
        if len(self.digest) != SHA2_256_LENGTH:
            raise CIDError("only sha2-256 digests are supported")

    @property
    def multihash(self) -> bytes:
        return bytes([SHA2_256, SHA2_256_LENGTH]) + self.digest

    def to_bytes(self) -> bytes:
        """Binary form, as it appears inside dag-pb links."""
        if self.version == 0:
            return self.multihash
        return encode_varint(1) + encode_varint(self.codec) + self.multihash

    def __str__(self) -> str:
        if self.version == 0:
            return base58btc_encode(self.multihash)
        return "b" + base32_encode(self.to_bytes())

    def __repr__(self) -> str:
        return f"CID({self})"

    @property
    def codec_name(self) -> str:
        return CODEC_NAMES.get(self.codec, hex(self.codec))

    @property
    def key(self) -> str:
        """Blockstore key: the multihash in base32 upper case (as flatfs), codec-independent."""
        return base32_encode(self.multihash).upper()

    def to_v1(self) -> CID:
        return CID(1, self.codec, self.digest)

    def verifies(self, data: bytes | memoryview) -> bool:
        """True when `data` hashes to this CID's digest."""
        return hashlib.sha256(data).digest() == self.digest

    @classmethod
    def for_block(cls, data: bytes | memoryview, codec: int, version: int = 1) -> CID:
        return cls(version, codec, hashlib.sha256(data).digest())

    @classmethod
    def from_bytes(cls, data: bytes) -> CID:
        if len(data) == 34 and data[0] == SHA2_256 and data[1] == SHA2_256_LENGTH:
            return cls(0, DAG_PB, bytes(data[2:]))
        version, offset = decode_varint(data)
        if version != 1:
            raise CIDError(f"unsupported CID version {version}")
        codec, offset = decode_varint(data, offset)
        hash_code, offset = decode_varint(data, offset)
        length, offset = decode_varint(data, offset)
        if hash_code != SHA2_256 or length != SHA2_256_LENGTH:
            raise CIDError("only sha2-256 CIDs are supported")
        digest = bytes(data[offset:offset + length])
        if len(digest) != length or offset + length != len(data):
            raise CIDError("CID bytes have the wrong length")
        return cls(1, codec, digest)

    @classmethod
    def parse(cls, text: str) -> CID:
        """Parse `Qm…` (v0) or `b…` (v1 base32); raise CIDError with a readable reason."""
        text = text.strip()
        if len(text) == 46 and text.startswith("Qm"):
            return cls.from_bytes(base58btc_decode(text))
        if text.startswith(("b", "B")) and len(text) > 8:
            return cls.from_bytes(base32_decode(text[1:]))
        if text.startswith("z") and len(text) > 8:
            return cls.from_bytes(base58btc_decode(text[1:]))
        raise CIDError(f"not a CID: {text[:80]!r}")


def as_cid(value: CID | str) -> CID:
    """Accept a CID or its string form."""
    return value if isinstance(value, CID) else CID.parse(value)
