"""The node's two identities and the signed link between them.

* **Ethereum account** (secp256k1, eth-account): signs transactions; its address is where stake and
  rewards live. From a mnemonic it is derived at BIP-44 `m/44'/60'/0'/0/0` (the MetaMask/Ledger
  default) unless another path is chosen.
* **libp2p identity** (Ed25519): its public key gives the peer ID, computed by libp2p's own
  `libp2p.crypto.ed25519` + `libp2p.peer.id.ID.from_pubkey`, so it is exactly what the p2p layer
  announces.

**Node key derivation (documented, stable).** When the wallet comes from a BIP-39 mnemonic, the
Ed25519 seed of the node key is derived from the same BIP-39 seed (PBKDF2-HMAC-SHA512 of the
mnemonic with an empty BIP-39 passphrase) by SLIP-0010 for ed25519 at the all-hardened path
`m/44'/60'/0'/1'/0'` (`NODE_KEY_PATH`). Restoring the mnemonic therefore restores the peer ID.
Otherwise (a private key or keystore import, or `create` without a mnemonic) the node seed is 32
random bytes kept in the vault.

**Binding.** The account signs, with EIP-191 `personal_sign`, the text of `binding_message()`
(a domain line, the account address and the peer ID). Anyone can check it with
`verify_binding(peer_id, address, signature)`; the peer ID side is proven by the libp2p
handshake itself (Noise authenticates the Ed25519 key), so one signature is enough to map a
peer to its staked address.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from typing import TYPE_CHECKING, Any

from oarn_tui.wallet.errors import InvalidKeyMaterial

if TYPE_CHECKING:
    from libp2p.crypto.keys import KeyPair

    from oarn_tui.wallet.signer import Signer

ETH_DEFAULT_PATH = "m/44'/60'/0'/0/0"
NODE_KEY_PATH = "m/44'/60'/0'/1'/0'"
HARDENED = 0x80000000
MNEMONIC_WORD_COUNTS = (12, 15, 18, 21, 24)
BINDING_DOMAIN = "OARN node identity binding v1"
_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_ETH_PATH = re.compile(r"^m(/\d+'?)+$")


def _account_cls() -> Any:
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return Account


# --- SLIP-0010 (ed25519) ---------------------------------------------------------------------

def parse_hardened_path(path: str) -> list[int]:
    """`m/44'/60'/0'/1'/0'` → child indexes; ed25519 in SLIP-0010 allows only hardened steps."""
    parts = path.strip().split("/")
    if parts[0] != "m":
        raise ValueError(f"derivation path must start with m/: {path!r}")
    indexes = []
    for part in parts[1:]:
        if not part.endswith("'") or not part[:-1].isdigit():
            raise ValueError(f"ed25519 derivation allows only hardened steps like 0': {path!r}")
        index = int(part[:-1])
        if index >= HARDENED:
            raise ValueError(f"derivation index out of range in {path!r}")
        indexes.append(index + HARDENED)
    return indexes


def slip10_ed25519(seed: bytes, path: str) -> bytes:
    """SLIP-0010 private key (32 bytes) for ed25519 at the hardened `path` from `seed`."""
    digest = hmac.new(b"ed25519 seed", seed, hashlib.sha512).digest()
    key, chain_code = digest[:32], digest[32:]
    for index in parse_hardened_path(path):
        data = b"\x00" + key + index.to_bytes(4, "big")
        digest = hmac.new(chain_code, data, hashlib.sha512).digest()
        key, chain_code = digest[:32], digest[32:]
    return key


# --- mnemonics ---------------------------------------------------------------------------------

def normalise_mnemonic(text: str) -> str:
    return " ".join(text.split()).lower()


def generate_mnemonic(num_words: int = 24) -> str:
    """A fresh BIP-39 English mnemonic (eth-account's generator, OS randomness)."""
    if num_words not in MNEMONIC_WORD_COUNTS:
        raise InvalidKeyMaterial(f"a mnemonic has {', '.join(map(str, MNEMONIC_WORD_COUNTS))} "
                                 "words")
    _account, mnemonic = _account_cls().create_with_mnemonic(num_words=num_words)
    return str(mnemonic)


def check_eth_path(path: str) -> str:
    if not _ETH_PATH.match(path.strip()):
        raise InvalidKeyMaterial(f"not a BIP-32 derivation path: {path!r} (e.g. "
                                 f"{ETH_DEFAULT_PATH})")
    return path.strip()


def keys_from_mnemonic(mnemonic: str, eth_path: str = ETH_DEFAULT_PATH
                       ) -> tuple[bytearray, bytearray]:
    """(Ethereum private key at `eth_path`, node Ed25519 seed at `NODE_KEY_PATH`)."""
    from eth_account.hdaccount import key_from_seed, seed_from_mnemonic

    eth_path = check_eth_path(eth_path)
    try:
        seed = bytearray(seed_from_mnemonic(normalise_mnemonic(mnemonic), ""))
    except Exception:  # eth-account's message would echo the words
        raise InvalidKeyMaterial("not a valid BIP-39 mnemonic (check the words and their "
                                 "order)") from None
    try:
        eth_key = bytearray(key_from_seed(bytes(seed), eth_path))
        node_seed = bytearray(slip10_ed25519(bytes(seed), NODE_KEY_PATH))
    finally:
        seed[:] = bytes(len(seed))
    return eth_key, node_seed


# --- keys --------------------------------------------------------------------------------------

def parse_private_key_text(text: str) -> bytearray:
    """A hex private key (with or without 0x) → 32 bytes; the text is never echoed."""
    stripped = text.strip()
    if not _HEX_KEY.match(stripped):
        raise InvalidKeyMaterial("a private key is 64 hex digits (optionally 0x-prefixed)")
    key = bytearray.fromhex(stripped.removeprefix("0x").removeprefix("0X"))
    order = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    if not 0 < int.from_bytes(key, "big") < order:
        raise InvalidKeyMaterial("the private key is out of range for secp256k1")
    return key


def new_eth_key() -> bytearray:
    """A fresh random secp256k1 private key (eth-account, OS randomness)."""
    return bytearray(_account_cls().create().key)


def address_of(eth_key: bytes | bytearray) -> str:
    return str(_account_cls().from_key(bytes(eth_key)).address)


def new_node_seed() -> bytearray:
    """32 random bytes: the Ed25519 seed of a node key not derived from a mnemonic."""
    return bytearray(os.urandom(32))


def node_key_pair(node_seed: bytes | bytearray) -> KeyPair:
    """The libp2p Ed25519 KeyPair for a 32-byte seed (what `libp2p.new_host(key_pair=)` takes)."""
    from libp2p.crypto.ed25519 import create_new_key_pair

    if len(node_seed) != 32:
        raise InvalidKeyMaterial("a node key seed is 32 bytes")
    return create_new_key_pair(bytes(node_seed))


def peer_id_of(node_seed: bytes | bytearray) -> str:
    """Base58 peer ID exactly as libp2p computes it for this Ed25519 key."""
    from libp2p.peer.id import ID

    return ID.from_pubkey(node_key_pair(node_seed).public_key).to_base58()


# --- binding -----------------------------------------------------------------------------------

def binding_message(peer_id: str, address: str) -> bytes:
    """The text the account signs to claim the peer ID (EIP-191 personal message)."""
    from eth_utils.address import to_checksum_address

    return f"{BINDING_DOMAIN}\naccount: {to_checksum_address(address)}\npeer: {peer_id}".encode()


def sign_binding(signer: Signer, peer_id: str) -> bytes:
    return signer.sign_message_bytes(binding_message(peer_id, signer.address))


def verify_binding(peer_id: str, address: str, signature: bytes | str) -> bool:
    """True when `signature` is `address`'s EIP-191 signature of the binding for `peer_id`."""
    from eth_account.messages import encode_defunct

    try:
        sig = bytes.fromhex(signature.removeprefix("0x")) if isinstance(signature, str) \
            else bytes(signature)
        if len(sig) != 65 or not peer_id:
            return False
        message = encode_defunct(primitive=binding_message(peer_id, address))
        recovered = _account_cls().recover_message(message, signature=sig)
    except Exception:
        return False
    return str(recovered).lower() == address.lower()
