"""Versioned, signed gossip/request messages (canonical JSON envelopes).

An envelope carries the sender's peer ID and public key, the account binding (an Ethereum address
and its EIP-191 signature over the peer ID), a timestamp and a random nonce (freshness and replay
protection), a kind-specific body, and an Ed25519 signature by the peer key over everything else.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024
SIGNING_DOMAIN = b"oarn-msg-v1:"

TOPIC_TASKS = "/oarn/tasks/1"
TOPIC_CAPABILITIES = "/oarn/capabilities/1"
TOPIC_RESULTS = "/oarn/results/1"
TOPICS = (TOPIC_TASKS, TOPIC_CAPABILITIES, TOPIC_RESULTS)
PROTOCOL_STATUS = "/oarn/status/1"
PROTOCOL_TASK_INFO = "/oarn/task-info/1"

# kind -> (body key, required JSON type of that key)
BODY_SCHEMAS: dict[str, tuple[str, type]] = {
    "tasks": ("tasks", list),
    "capabilities": ("capabilities", dict),
    "results": ("results", list),
    "status": ("status", dict),
    "task-info": ("task", dict),
}
TOPIC_KINDS = {TOPIC_TASKS: "tasks", TOPIC_CAPABILITIES: "capabilities", TOPIC_RESULTS: "results"}
MAX_BATCH_ITEMS = 64


@dataclass(frozen=True)
class AccountBinding:
    """An Ethereum account's EIP-191 signature over a libp2p peer ID."""

    address: str
    signature: str  # 0x-hex


@dataclass(frozen=True)
class Envelope:
    """A decoded, not yet validated message."""

    kind: str
    sender: str
    public_key: bytes
    binding: AccountBinding | None
    timestamp_ms: int
    nonce: str
    body: dict[str, Any]
    signature: bytes

    @property
    def message_id(self) -> str:
        """Replay key: one (sender, nonce) is accepted once."""
        return f"{self.sender}:{self.nonce}"


def make_binding(signer: Any, peer_id: str) -> AccountBinding:
    """Bind `signer`'s account to `peer_id` with the wallet's binding signature."""
    from oarn_tui.wallet.identity import sign_binding

    signature = sign_binding(signer, peer_id)
    return AccountBinding(address=signer.address, signature="0x" + bytes(signature).hex())


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _unsigned_fields(envelope: dict[str, Any]) -> bytes:
    return SIGNING_DOMAIN + canonical_json({k: v for k, v in envelope.items() if k != "sig"})


def encode_message(
    key_pair: Any,
    kind: str,
    body: dict[str, Any],
    binding: AccountBinding | None,
    padding_bucket: int = 0,
    now_ms: int | None = None,
) -> bytes:
    """Sign and encode one message; pad with trailing spaces to a multiple of `padding_bucket`."""
    from libp2p.peer.id import ID

    public_key = key_pair.public_key
    fields: dict[str, Any] = {
        "v": SCHEMA_VERSION,
        "kind": kind,
        "from": ID.from_pubkey(public_key).to_base58(),
        "pk": base64.b64encode(public_key.serialize()).decode(),
        "acct": {"address": binding.address, "sig": binding.signature} if binding else None,
        "ts": int(time.time() * 1000) if now_ms is None else now_ms,
        "nonce": os.urandom(12).hex(),
        "body": body,
    }
    fields["sig"] = base64.b64encode(key_pair.private_key.sign(_unsigned_fields(fields))).decode()
    data = canonical_json(fields)
    return pad(data, padding_bucket)


def pad(data: bytes, bucket: int) -> bytes:
    """Pad JSON bytes with trailing spaces (ignored by JSON parsers) to a bucket multiple."""
    if bucket <= 0 or len(data) % bucket == 0:
        return data
    return data + b" " * (bucket - len(data) % bucket)


class MessageError(ValueError):
    """A message that fails decoding or validation; `reason` is a short stable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def decode_message(data: bytes, max_bytes: int = MAX_MESSAGE_BYTES) -> Envelope:
    """Parse and check size, schema and the peer signature (not freshness, replay or binding)."""
    if len(data) > max_bytes:
        raise MessageError("oversized", f"{len(data)} > {max_bytes} bytes")
    try:
        fields = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MessageError("malformed", str(error)[:80]) from None
    if not isinstance(fields, dict):
        raise MessageError("malformed", "not an object")
    envelope = _parse_fields(fields)
    _check_signature(fields, envelope)
    return envelope


def _parse_fields(fields: dict[str, Any]) -> Envelope:
    if fields.get("v") != SCHEMA_VERSION:
        raise MessageError("bad_version", str(fields.get("v"))[:16])
    kind, sender, body = fields.get("kind"), fields.get("from"), fields.get("body")
    if kind not in BODY_SCHEMAS:
        raise MessageError("bad_schema", "unknown kind")
    if not isinstance(sender, str) or not isinstance(body, dict):
        raise MessageError("bad_schema", "from/body")
    key, expected = BODY_SCHEMAS[kind]
    if not isinstance(body.get(key), expected):
        raise MessageError("bad_schema", f"body.{key}")
    if expected is list and not 0 < len(body[key]) <= MAX_BATCH_ITEMS:
        raise MessageError("bad_schema", f"body.{key} length")
    timestamp, nonce = fields.get("ts"), fields.get("nonce")
    if not isinstance(timestamp, int) or not isinstance(nonce, str) or not 8 <= len(nonce) <= 64:
        raise MessageError("bad_schema", "ts/nonce")
    if not isinstance(fields.get("sig"), str) or not isinstance(fields.get("pk"), str):
        raise MessageError("unsigned")
    account = fields.get("acct")
    binding = None
    if account is not None:
        if not (isinstance(account, dict) and isinstance(account.get("address"), str)
                and isinstance(account.get("sig"), str)):
            raise MessageError("bad_schema", "acct")
        binding = AccountBinding(account["address"], account["sig"])
    try:
        public_key = base64.b64decode(fields["pk"], validate=True)
        signature = base64.b64decode(fields["sig"], validate=True)
    except ValueError:
        raise MessageError("malformed", "base64") from None
    return Envelope(kind, sender, public_key, binding, timestamp, nonce, body, signature)


def _check_signature(fields: dict[str, Any], envelope: Envelope) -> None:
    from libp2p.crypto.serialization import deserialize_public_key
    from libp2p.peer.id import ID

    try:
        public_key = deserialize_public_key(envelope.public_key)
        sender = ID.from_pubkey(public_key).to_base58()
        valid = public_key.verify(_unsigned_fields(fields), envelope.signature)
    except Exception:  # any undecodable key or signature is simply invalid
        raise MessageError("bad_signature", "undecodable key") from None
    if sender != envelope.sender:
        raise MessageError("bad_signature", "key does not match sender")
    if not valid:
        raise MessageError("bad_signature")
