"""The vault: one file holding both keys, encrypted with AES-256-GCM under an Argon2id key.

File layout (format version 1), all integers big-endian::

    magic         10 bytes  b"OARNVAULT\\x00"
    version        2 bytes  1
    header_len     4 bytes  length of the header that follows
    header         JSON (UTF-8, sorted keys): cipher, kdf {name, time_cost, memory_kib,
                   parallelism, salt}, nonce, public {address, peer_id, origin, created_at}
    ciphertext     AES-256-GCM(payload JSON) with its 16-byte tag
    checksum      32 bytes  SHA-256 of everything before it

Everything before the ciphertext (magic, version, length and header) is the GCM associated data,
so changing a KDF parameter, the salt, the nonce or the public fields makes decryption fail. The
SHA-256 trailer lets any command spot a damaged file without the passphrase and tell damage apart
from a wrong passphrase (an attacker can recompute it, which GCM then catches).

The header also holds `key_check`, HMAC-SHA256(AES key, "oarn-vault key check v1")[:16]: after
the Argon2id step it tells a wrong passphrase (check fails) from a file modified after it was
written (check passes, GCM fails), reported as `VaultTampered`. It gives an attacker nothing a
GCM trial decryption would not. A tampered salt or KDF parameter changes the derived key, so it
reads as a wrong passphrase: without the passphrase nothing can tell those apart. Vaults
written before `key_check` existed open as before (a GCM failure then says "wrong passphrase or
modified vault"). The public fields are authenticated only by an unlock: `open_sealed` then
refuses a vault whose header address or peer ID differs from the decrypted keys. The payload holds
the Ethereum private key, the 32-byte Ed25519 seed of the libp2p identity, whether both came from
a mnemonic, and metadata (derivation paths, origin). The mnemonic itself is never stored.

Argon2id bounds (enforced on write *and* read): time_cost 2..10, memory 19 MiB..1 GiB,
parallelism 1..16 (OWASP's minimum; the maxima stop a planted vault from tying up minutes of CPU
or gigabytes of memory before the passphrase is even checked); default t=3, m=64 MiB, p=4.

Layout, KDF bounds, sealing and opening stay in one module (~420 lines) because they are one file
format: the writer and the reader must check the same bounds and the same associated data.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oarn_tui.fsutil import atomic_write_bytes
from oarn_tui.wallet.errors import (
    VaultCorrupt,
    VaultExists,
    VaultMissing,
    WeakKdfParams,
    WrongPassphrase,
)

MAGIC = b"OARNVAULT\x00"
FORMAT_VERSION = 1
PREFIX = struct.Struct(">HI")
CHECKSUM_LEN = 32
NONCE_LEN = 12
SALT_LEN = 16
KEY_LEN = 32
MAX_HEADER_LEN = 64 * 1024
MAX_VAULT_LEN = 1024 * 1024

MIN_TIME_COST = 2
MIN_MEMORY_KIB = 19 * 1024
MIN_PARALLELISM = 1
MAX_TIME_COST = 10
MAX_MEMORY_KIB = 1024 * 1024
MAX_PARALLELISM = 16
KEY_CHECK_LABEL = b"oarn-vault key check v1"
KEY_CHECK_LEN = 16


class VaultTampered(VaultCorrupt):
    """The passphrase is right but the vault (header or ciphertext) was modified after it was
    written, or its public header does not match the keys inside (a `VaultCorrupt`, so every
    caller already refuses it and never overwrites the file)."""


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost parameters; `check()` enforces the lower (and sanity upper) bounds."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4

    @classmethod
    def minimum(cls) -> KdfParams:
        """The weakest parameters accepted (t=2, m=19 MiB, p=1): for tests and tiny devices."""
        return cls(MIN_TIME_COST, MIN_MEMORY_KIB, MIN_PARALLELISM)

    def check(self) -> KdfParams:
        if not all(isinstance(v, int) and not isinstance(v, bool)
                   for v in (self.time_cost, self.memory_kib, self.parallelism)):
            raise WeakKdfParams("Argon2id parameters must be whole numbers")
        if self.time_cost < MIN_TIME_COST:
            raise WeakKdfParams(f"Argon2id time cost {self.time_cost} is below the minimum "
                                f"{MIN_TIME_COST}")
        if self.memory_kib < MIN_MEMORY_KIB:
            raise WeakKdfParams(f"Argon2id memory {self.memory_kib} KiB is below the minimum "
                                f"{MIN_MEMORY_KIB} KiB (19 MiB)")
        if self.parallelism < MIN_PARALLELISM:
            raise WeakKdfParams(f"Argon2id parallelism {self.parallelism} is below the minimum "
                                f"{MIN_PARALLELISM}")
        too_high = [f"{name} {value} > {limit}" for name, value, limit in (
            ("time cost", self.time_cost, MAX_TIME_COST),
            ("memory KiB", self.memory_kib, MAX_MEMORY_KIB),
            ("parallelism", self.parallelism, MAX_PARALLELISM)) if value > limit]
        if too_high:
            raise WeakKdfParams(f"Argon2id parameters above the accepted maximum "
                                f"({', '.join(too_high)}; at most t={MAX_TIME_COST}, m=1 GiB, "
                                f"p={MAX_PARALLELISM})")
        return self

    def as_dict(self) -> dict[str, int]:
        return {"time_cost": self.time_cost, "memory_kib": self.memory_kib,
                "parallelism": self.parallelism}


Secret = str | bytes | bytearray
"""A passphrase: a `bytearray` (UTF-8) is used in place and never copied into an immutable
object, so its owner can zero it after use; a `str` is accepted for the command line."""


def derive_key(passphrase: Secret, salt: bytes, params: KdfParams) -> bytes:
    """The 32-byte AES key: Argon2id(passphrase, salt) with `params`.

    The passphrase reaches libargon2 through a buffer view (`ffi.from_buffer`), not a copy:
    `argon2.low_level.hash_secret_raw` would copy it into an immutable `bytes` and a C array
    nobody zeroes.
    """
    from _argon2_cffi_bindings import ffi, lib  # type: ignore[import-untyped]
    from argon2.low_level import ARGON2_VERSION, Type

    params.check()
    if isinstance(passphrase, bytearray):
        secret = passphrase
    else:
        secret = bytearray(passphrase.encode("utf-8") if isinstance(passphrase, str)
                           else passphrase)
    out = ffi.new("uint8_t[]", KEY_LEN)
    try:
        status = lib.argon2_hash(params.time_cost, params.memory_kib, params.parallelism,
                                 ffi.from_buffer("uint8_t[]", secret), len(secret),
                                 salt, len(salt), out, KEY_LEN, ffi.NULL, 0, Type.ID.value,
                                 ARGON2_VERSION)
    finally:
        if secret is not passphrase:
            _zero(secret)
    if status != lib.ARGON2_OK:
        from argon2.low_level import error_to_str

        raise VaultCorrupt(f"argon2id failed: {error_to_str(status)}")
    key = bytes(ffi.buffer(out, KEY_LEN))
    ffi.memmove(out, bytes(KEY_LEN), KEY_LEN)
    return key


@dataclass
class VaultPayload:
    """The decrypted secrets. `wipe()` overwrites the key buffers; `repr` never shows them."""

    eth_private_key: bytearray
    node_seed: bytearray
    from_mnemonic: bool
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return json.dumps({
            "version": 1,
            "eth_private_key": bytes(self.eth_private_key).hex(),
            "node_seed": bytes(self.node_seed).hex(),
            "from_mnemonic": self.from_mnemonic,
            "metadata": self.metadata,
        }, sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes | bytearray) -> VaultPayload:
        try:
            doc = json.loads(bytes(data))
            eth_key = bytearray.fromhex(doc["eth_private_key"])
            node_seed = bytearray.fromhex(doc["node_seed"])
            from_mnemonic = bool(doc["from_mnemonic"])
            metadata = dict(doc.get("metadata") or {})
        except (ValueError, KeyError, TypeError):
            raise VaultCorrupt("vault payload is malformed") from None
        if len(eth_key) != 32 or len(node_seed) != 32:
            raise VaultCorrupt("vault payload has keys of the wrong length")
        return cls(eth_key, node_seed, from_mnemonic, metadata)

    def wipe(self) -> None:
        _zero(self.eth_private_key)
        _zero(self.node_seed)

    def __repr__(self) -> str:
        return f"VaultPayload(from_mnemonic={self.from_mnemonic}, <keys hidden>)"


@dataclass(frozen=True)
class VaultFile:
    """A parsed, checksum-verified vault file (still encrypted)."""

    version: int
    header: dict[str, Any]
    kdf: KdfParams
    salt: bytes
    nonce: bytes
    associated_data: bytes
    ciphertext: bytes

    @property
    def public(self) -> dict[str, Any]:
        """Public metadata (address, peer_id, origin, created_at): readable without unlocking."""
        return dict(self.header.get("public") or {})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, length: int, name: str) -> bytes:
    try:
        raw = base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise VaultCorrupt(f"vault header field {name} is not valid base64") from None
    if len(raw) != length:
        raise VaultCorrupt(f"vault header field {name} has the wrong length")
    return raw


def seal(payload: VaultPayload, passphrase: Secret, public: dict[str, Any],
         kdf: KdfParams | None = None) -> bytes:
    """Encrypt `payload` into the bytes of a new vault file (fresh salt and nonce)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    kdf = (kdf or KdfParams()).check()
    salt, nonce = os.urandom(SALT_LEN), os.urandom(NONCE_LEN)
    key = bytearray(derive_key(passphrase, salt, kdf))
    header = {
        "cipher": "aes-256-gcm",
        "kdf": {"name": "argon2id", **kdf.as_dict(), "salt": _b64(salt)},
        "nonce": _b64(nonce),
        "key_check": _b64(_key_check(key)),
        "public": public,
    }
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    aad = MAGIC + PREFIX.pack(FORMAT_VERSION, len(header_bytes)) + header_bytes
    plaintext = bytearray(payload.to_bytes())
    try:
        ciphertext = AESGCM(bytes(key)).encrypt(nonce, bytes(plaintext), aad)
    finally:
        _zero(key)
        _zero(plaintext)
    body = aad + ciphertext
    return body + hashlib.sha256(body).digest()


def parse(data: bytes) -> VaultFile:
    """Check the structure and checksum of vault bytes; raise `VaultCorrupt` on any damage."""
    if len(data) > MAX_VAULT_LEN:
        raise VaultCorrupt("vault file is too large to be an OARN vault")
    fixed = len(MAGIC) + PREFIX.size
    if len(data) < fixed + CHECKSUM_LEN + 16 or not data.startswith(MAGIC):
        raise VaultCorrupt("not an OARN vault file (bad magic or truncated)")
    body, checksum = data[:-CHECKSUM_LEN], data[-CHECKSUM_LEN:]
    if hashlib.sha256(body).digest() != checksum:
        raise VaultCorrupt("vault file is damaged or was modified (checksum mismatch)")
    version, header_len = PREFIX.unpack_from(data, len(MAGIC))
    if version != FORMAT_VERSION:
        raise VaultCorrupt(f"vault format version {version} is not supported by this oarn "
                           f"(expected {FORMAT_VERSION})")
    if header_len > MAX_HEADER_LEN or fixed + header_len + 16 > len(body):
        raise VaultCorrupt("vault header length is out of range")
    header_bytes = body[fixed:fixed + header_len]
    try:
        header = json.loads(header_bytes)
        kdf_doc = header["kdf"]
        if header["cipher"] != "aes-256-gcm" or kdf_doc["name"] != "argon2id":
            raise VaultCorrupt("vault uses an unsupported cipher or KDF")
        kdf = KdfParams(kdf_doc["time_cost"], kdf_doc["memory_kib"], kdf_doc["parallelism"])
        salt = _unb64(kdf_doc["salt"], SALT_LEN, "salt")
        nonce = _unb64(header["nonce"], NONCE_LEN, "nonce")
        if "key_check" in header:
            _unb64(header["key_check"], KEY_CHECK_LEN, "key_check")
        if not isinstance(header.get("public", {}), dict):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise VaultCorrupt("vault header is malformed") from None
    try:
        kdf.check()
    except WeakKdfParams as exc:
        raise VaultCorrupt(f"vault refused: {exc}") from None
    return VaultFile(version, header, kdf, salt, nonce, body[:fixed + header_len],
                     body[fixed + header_len:])


def _key_check(key: bytearray | bytes) -> bytes:
    return hmac.new(bytes(key), KEY_CHECK_LABEL, hashlib.sha256).digest()[:KEY_CHECK_LEN]


def open_sealed(vault: VaultFile, passphrase: Secret) -> VaultPayload:
    """Decrypt a parsed vault and check its public header against the keys.

    A wrong passphrase raises `WrongPassphrase`; a vault modified after it was written (the
    passphrase's key check passes but GCM fails, or the header's address or peer ID is not the
    one of the decrypted keys) raises `VaultTampered`.
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from oarn_tui.hardening import harden_process

    harden_process()  # keys are about to be in memory: no core dump, no ptrace
    key = bytearray(derive_key(passphrase, vault.salt, vault.kdf))
    stored_check = vault.header.get("key_check")
    try:
        if stored_check is not None and not hmac.compare_digest(
                _key_check(key), base64.b64decode(stored_check)):
            raise WrongPassphrase("wrong passphrase for the wallet vault")
        try:
            plaintext = bytearray(AESGCM(bytes(key)).decrypt(vault.nonce, vault.ciphertext,
                                                              vault.associated_data))
        except InvalidTag:
            if stored_check is not None:
                raise VaultTampered(TAMPERED) from None
            raise WrongPassphrase("wrong passphrase for the wallet vault (or the vault file was "
                                  "modified)") from None
    finally:
        _zero(key)
    try:
        payload = VaultPayload.from_bytes(plaintext)
    finally:
        _zero(plaintext)
    _check_public(vault, payload)
    return payload


TAMPERED = ("the vault header or ciphertext was modified after it was written (the passphrase "
            "is right, the file is not); refusing it — restore it from `oarn wallet backup` or "
            "re-import your keys")


def _check_public(vault: VaultFile, payload: VaultPayload) -> None:
    """The header's address and peer ID must be those of the decrypted keys."""
    from oarn_tui.wallet import identity

    public = vault.public
    mismatch = []
    if public.get("address") != identity.address_of(payload.eth_private_key):
        mismatch.append("address")
    if "peer_id" in public and public["peer_id"] != identity.peer_id_of(payload.node_seed):
        mismatch.append("peer ID")
    if mismatch:
        payload.wipe()
        raise VaultTampered(f"the vault header's {' and '.join(mismatch)} does not match its "
                            f"keys (the header was tampered with); refusing it — restore it "
                            f"from `oarn wallet backup` or re-import your keys")


def read_vault(path: Path) -> VaultFile:
    """Read and check the vault at `path` (no passphrase needed)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise VaultMissing(f"no wallet vault at {path}; run `oarn wallet create` or "
                           "`oarn wallet import`") from None
    except OSError as exc:
        raise VaultCorrupt(f"cannot read the wallet vault at {path}: {exc.strerror}") from None
    try:
        return parse(data)
    except VaultCorrupt as exc:
        raise VaultCorrupt(f"{path}: {exc}; the file was left untouched — restore it from "
                           "`oarn wallet backup` or re-import your keys") from None


def unlock_vault(path: Path, passphrase: Secret) -> VaultPayload:
    return open_sealed(read_vault(path), passphrase)


def write_vault(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Atomically write vault bytes with mode 0600; refuse to replace unless `replace`.

    A new vault is placed with a hard link from a fsynced temp file, so two concurrent
    `create`/`import` runs cannot overwrite each other (the second gets `VaultExists`).
    """
    path = Path(path)
    parse(data)  # never write something we could not read back
    if replace:
        atomic_write_bytes(path, data, mode=0o600)
        return
    exists = VaultExists(f"a wallet vault already exists at {path}; refusing to overwrite it "
                         "(back it up and move it away first)")
    if path.exists():
        raise exists
    temp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.new")
    atomic_write_bytes(temp, data, mode=0o600)
    try:
        os.link(temp, path)
    except FileExistsError:
        raise exists from None
    except OSError:  # no hard links on this filesystem: fall back to check-then-rename
        if path.exists():
            raise exists from None
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def _zero(buffer: bytearray) -> None:
    """Overwrite a buffer in place (best effort: Python may hold other copies)."""
    buffer[:] = bytes(len(buffer))
