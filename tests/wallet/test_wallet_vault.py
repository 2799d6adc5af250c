"""The vault file: round trip, authenticated header, tamper refusal, KDF bounds, permissions."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest
from wallet_helpers import ABANDON_MNEMONIC, FAST_KDF, PASSPHRASE

from oarn_tui.wallet import operations
from oarn_tui.wallet.errors import (
    VaultCorrupt,
    VaultExists,
    VaultMissing,
    WalletError,
    WeakKdfParams,
    WrongPassphrase,
)
from oarn_tui.wallet.unlock import open_wallet
from oarn_tui.wallet.vault import (
    CHECKSUM_LEN,
    MAGIC,
    KdfParams,
    VaultPayload,
    parse,
    read_vault,
    seal,
    unlock_vault,
)

ANVIL_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def make_vault(tmp_path: Path) -> Path:
    path = tmp_path / "wallet.vault"
    operations.import_private_key(path, PASSPHRASE, ANVIL_KEY, FAST_KDF)
    return path


def test_round_trip_keeps_both_keys_and_header(tmp_path: Path) -> None:
    path = make_vault(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    assert bytes.fromhex(ANVIL_KEY) not in data and ANVIL_KEY.encode() not in data
    vault = read_vault(path)
    assert vault.kdf == FAST_KDF
    assert vault.public["address"] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    payload = unlock_vault(path, PASSPHRASE)
    assert payload.eth_private_key.hex() == ANVIL_KEY
    assert vault.public["peer_id"] == open_wallet(path, PASSPHRASE, "prompt").peer_id
    assert payload.from_mnemonic is False
    assert "hidden" in repr(payload) and ANVIL_KEY not in repr(payload)
    payload.wipe()
    assert payload.eth_private_key == bytearray(32)


def test_default_kdf_parameters_are_used_and_work(tmp_path: Path) -> None:
    path = tmp_path / "wallet.vault"
    public = operations.import_mnemonic(path, PASSPHRASE, ABANDON_MNEMONIC)
    vault = read_vault(path)
    assert vault.kdf == KdfParams(3, 64 * 1024, 4)
    assert public["address"] == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
    with open_wallet(path, PASSPHRASE, "password-file") as wallet:
        assert wallet.address == public["address"]
        assert wallet.from_mnemonic


def test_wrong_passphrase_is_refused(tmp_path: Path) -> None:
    path = make_vault(tmp_path)
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        unlock_vault(path, PASSPHRASE + "x")


@pytest.mark.parametrize("where", ["magic", "version", "header_len", "kdf", "salt", "nonce",
                                   "public", "ciphertext", "tag", "checksum"])
def test_one_flipped_byte_is_refused_and_file_unchanged(tmp_path: Path, where: str) -> None:
    path = make_vault(tmp_path)
    data = bytearray(path.read_bytes())
    header_len = struct.unpack_from(">I", data, len(MAGIC) + 2)[0]
    header_start = len(MAGIC) + 6
    header_text = bytes(data[header_start:header_start + header_len]).decode()
    offsets = {
        "magic": 3, "version": len(MAGIC) + 1, "header_len": len(MAGIC) + 5,
        "kdf": header_start + header_text.index('"time_cost":') + len('"time_cost":'),
        "salt": header_start + header_text.index('"salt":"') + 10,
        "nonce": header_start + header_text.index('"nonce":"') + 11,
        "public": header_start + header_text.index('"address":"') + 15,
        "ciphertext": header_start + header_len + 5,
        "tag": len(data) - CHECKSUM_LEN - 3,
        "checksum": len(data) - 1,
    }
    data[offsets[where]] ^= 0x01
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(VaultCorrupt) as caught:
        unlock_vault(path, PASSPHRASE)
    assert "left untouched" in str(caught.value)
    with pytest.raises(WalletError):
        operations.change_passphrase(path, PASSPHRASE, "another passphrase 9", FAST_KDF)
    assert path.read_bytes() == before


def test_tampering_with_a_recomputed_checksum_is_caught_by_gcm(tmp_path: Path) -> None:
    """An attacker who fixes the SHA-256 trailer still cannot change the authenticated header,
    and the right passphrase reports tampering, not a wrong passphrase."""
    from oarn_tui.wallet.vault import VaultTampered, open_sealed

    path = make_vault(tmp_path)
    data = path.read_bytes()[:-CHECKSUM_LEN]
    forged = data.replace(b'"origin":"private-key"', b'"origin":"private-kez"')
    assert forged != data
    forged_file = forged + hashlib.sha256(forged).digest()
    with pytest.raises(VaultTampered, match="modified"):
        open_sealed(parse(forged_file), PASSPHRASE)
    with pytest.raises(WrongPassphrase):
        open_sealed(parse(forged_file), PASSPHRASE + "x")


def test_kdf_lower_bounds_enforced_on_write_and_read(tmp_path: Path) -> None:
    for weak in (KdfParams(1, 65536, 4), KdfParams(3, 19 * 1024 - 1, 4), KdfParams(3, 65536, 0)):
        with pytest.raises(WeakKdfParams):
            weak.check()
    payload = VaultPayload(bytearray(bytes.fromhex(ANVIL_KEY)), bytearray(32), False)
    with pytest.raises(WeakKdfParams):
        seal(payload, PASSPHRASE, {}, KdfParams(1, 1024, 1))
    # a hand-made vault with weak parameters (valid checksum) is refused on read
    data = make_vault(tmp_path).read_bytes()[:-CHECKSUM_LEN]
    header_len = struct.unpack_from(">I", data, len(MAGIC) + 2)[0]
    start = len(MAGIC) + 6
    header = json.loads(data[start:start + header_len])
    header["kdf"]["time_cost"] = 1
    new_header = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    body = (MAGIC + struct.pack(">HI", 1, len(new_header)) + new_header
            + data[start + header_len:])
    with pytest.raises(VaultCorrupt, match="below the minimum"):
        parse(body + hashlib.sha256(body).digest())


def test_truncated_and_foreign_files_are_refused(tmp_path: Path) -> None:
    path = make_vault(tmp_path)
    data = path.read_bytes()
    for bad in (data[:20], b"", b"{}" * 40, data[:-1]):
        with pytest.raises(VaultCorrupt):
            parse(bad)
    with pytest.raises(VaultMissing, match="oarn wallet create"):
        read_vault(tmp_path / "nope.vault")


def test_existing_vault_is_never_overwritten_by_create_or_import(tmp_path: Path) -> None:
    path = make_vault(tmp_path)
    before = path.read_bytes()
    with pytest.raises(VaultExists):
        operations.import_mnemonic(path, PASSPHRASE, ABANDON_MNEMONIC, kdf=FAST_KDF)
    with pytest.raises(VaultExists):
        operations.create(path, PASSPHRASE, kdf=FAST_KDF)
    assert path.read_bytes() == before


def test_change_passphrase_reencrypts_with_fresh_salt(tmp_path: Path) -> None:
    path = make_vault(tmp_path)
    old = read_vault(path)
    operations.change_passphrase(path, PASSPHRASE, "a brand new passphrase")
    new = read_vault(path)
    assert new.salt != old.salt and new.nonce != old.nonce
    assert new.kdf == old.kdf and new.public == old.public
    with pytest.raises(WrongPassphrase):
        unlock_vault(path, PASSPHRASE)
    assert unlock_vault(path, "a brand new passphrase").eth_private_key.hex() == ANVIL_KEY
    assert path.stat().st_mode & 0o777 == 0o600


def test_short_new_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WalletError, match="at least 8"):
        operations.import_private_key(tmp_path / "w.vault", "short", ANVIL_KEY, FAST_KDF)
    assert not (tmp_path / "w.vault").exists()


def test_new_vault_placement_is_exclusive(tmp_path: Path) -> None:
    """`write_vault` without `replace` never clobbers a vault that appeared meanwhile."""
    from oarn_tui.wallet.vault import write_vault

    path = make_vault(tmp_path)
    original = path.read_bytes()
    other = tmp_path / "other.vault"
    operations.import_mnemonic(other, PASSPHRASE, ABANDON_MNEMONIC, kdf=FAST_KDF)
    with pytest.raises(VaultExists):
        write_vault(path, other.read_bytes())
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.vault", "wallet.vault"]
    with pytest.raises(VaultCorrupt):
        write_vault(tmp_path / "junk.vault", b"not a vault")
    assert not (tmp_path / "junk.vault").exists()
