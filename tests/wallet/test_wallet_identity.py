"""Known vectors for both identities, and the account ↔ peer-ID binding."""

from __future__ import annotations

import pytest
from eth_account import Account
from libp2p.crypto.ed25519 import Ed25519PrivateKey
from libp2p.peer.id import ID
from wallet_helpers import ABANDON_MNEMONIC

from oarn_tui.wallet import identity
from oarn_tui.wallet.errors import InvalidKeyMaterial
from oarn_tui.wallet.signer import LocalSigner

HARDHAT_MNEMONIC = "test test test test test test test test test test test junk"
HARDHAT_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
HARDHAT_ADDRESS_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
# SLIP-0010 test vector 1 for ed25519 (satoshilabs/slips slip-0010.md)
SLIP10_SEED = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
SLIP10_VECTORS = {
    "m": "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7",
    "m/0'": "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3",
    "m/0'/1'": "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2",
    "m/0'/1'/2'": "92a5b23c0b8a99e37d07df3fb9966917f5d06e02ddbd909c7e184371463e9fc9",
    "m/0'/1'/2'/2'": "30d1dc7e5fc04c31219ab25a27ae00b50f6fd66622f6e9c913253d6511d1e662",
}


def test_private_key_gives_published_address() -> None:
    key = identity.parse_private_key_text(HARDHAT_KEY_0 + "\n")
    assert identity.address_of(key) == HARDHAT_ADDRESS_0
    assert identity.address_of(identity.parse_private_key_text(HARDHAT_KEY_0[2:])) == \
        HARDHAT_ADDRESS_0


def test_bip39_mnemonics_give_published_addresses() -> None:
    eth_key, _seed = identity.keys_from_mnemonic(ABANDON_MNEMONIC)
    assert identity.address_of(eth_key) == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
    eth_key, _seed = identity.keys_from_mnemonic("  " + HARDHAT_MNEMONIC.upper() + "\n")
    assert identity.address_of(eth_key) == HARDHAT_ADDRESS_0
    second, _ = identity.keys_from_mnemonic(HARDHAT_MNEMONIC, "m/44'/60'/0'/0/1")
    assert identity.address_of(second) == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_mnemonic_derivation_matches_eth_account() -> None:
    Account.enable_unaudited_hdwallet_features()
    eth_key, _ = identity.keys_from_mnemonic(ABANDON_MNEMONIC, "m/44'/60'/0'/0/7")
    expected = Account.from_mnemonic(ABANDON_MNEMONIC, account_path="m/44'/60'/0'/0/7")
    assert bytes(eth_key) == bytes(expected.key)


@pytest.mark.parametrize(("path", "expected"), sorted(SLIP10_VECTORS.items()))
def test_slip10_ed25519_published_vectors(path: str, expected: str) -> None:
    assert identity.slip10_ed25519(SLIP10_SEED, path).hex() == expected


def test_slip10_refuses_soft_steps() -> None:
    with pytest.raises(ValueError, match="hardened"):
        identity.slip10_ed25519(SLIP10_SEED, "m/0'/1")


def test_node_key_from_mnemonic_is_stable_and_documented_path() -> None:
    _eth, node_seed = identity.keys_from_mnemonic(ABANDON_MNEMONIC)
    _eth2, node_seed_again = identity.keys_from_mnemonic(ABANDON_MNEMONIC)
    assert node_seed == node_seed_again
    from eth_account.hdaccount import seed_from_mnemonic

    bip39_seed = seed_from_mnemonic(ABANDON_MNEMONIC, "")
    assert bytes(node_seed) == identity.slip10_ed25519(bip39_seed, "m/44'/60'/0'/1'/0'")
    # regression vector: the peer ID this mnemonic restores, forever
    assert identity.peer_id_of(node_seed) == "12D3KooWLqthFdZ64S2zrhFkiA9ErDwz97dqP987W5bTPbbNH6Wr"


def test_peer_id_is_what_libp2p_computes() -> None:
    seed = identity.new_node_seed()
    libp2p_key = Ed25519PrivateKey.from_bytes(bytes(seed))
    expected = ID.from_pubkey(libp2p_key.get_public_key()).to_base58()
    assert identity.peer_id_of(seed) == expected
    pair = identity.node_key_pair(seed)
    assert pair.private_key.to_bytes() == bytes(seed)
    assert expected.startswith("12D3KooW")


def test_binding_verifies_and_rejects_mismatches() -> None:
    signer = LocalSigner.from_key(HARDHAT_KEY_0)
    peer_id = identity.peer_id_of(identity.new_node_seed())
    other_peer = identity.peer_id_of(identity.new_node_seed())
    signature = identity.sign_binding(signer, peer_id)
    assert identity.verify_binding(peer_id, HARDHAT_ADDRESS_0, signature)
    assert identity.verify_binding(peer_id, HARDHAT_ADDRESS_0.lower(), "0x" + signature.hex())
    assert not identity.verify_binding(other_peer, HARDHAT_ADDRESS_0, signature)
    assert not identity.verify_binding(peer_id, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                                       signature)
    tampered = bytearray(signature)
    tampered[10] ^= 1
    assert not identity.verify_binding(peer_id, HARDHAT_ADDRESS_0, bytes(tampered))
    assert not identity.verify_binding(peer_id, HARDHAT_ADDRESS_0, b"short")
    assert not identity.verify_binding(peer_id, "not an address", signature)


def test_bad_key_material_errors_do_not_echo_input() -> None:
    bad_words = "abandon abandon abandon abandon abandon abandon abandon abandon abandon " \
                "abandon abandon abandon"
    with pytest.raises(InvalidKeyMaterial) as caught:
        identity.keys_from_mnemonic(bad_words)
    assert "abandon" not in str(caught.value)
    assert caught.value.__suppress_context__
    secretish = "zz" + HARDHAT_KEY_0[4:]
    with pytest.raises(InvalidKeyMaterial) as caught:
        identity.parse_private_key_text(secretish)
    assert HARDHAT_KEY_0[4:] not in str(caught.value)
    with pytest.raises(InvalidKeyMaterial, match="out of range"):
        identity.parse_private_key_text("00" * 32)


def test_generated_mnemonic_has_requested_length_and_derives() -> None:
    words = identity.generate_mnemonic(24)
    assert len(words.split()) == 24
    eth_key, node_seed = identity.keys_from_mnemonic(words)
    assert len(eth_key) == 32 and len(node_seed) == 32
    with pytest.raises(InvalidKeyMaterial):
        identity.generate_mnemonic(13)
