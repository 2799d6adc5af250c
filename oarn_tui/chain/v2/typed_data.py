"""EIP-712 digests and signatures for TaskMarket (vouchers, task orders, result receipts) and
OARNRegistryV2 (peer bindings), computed exactly as the contracts do.

A signature is r ‖ s ‖ v (65 bytes, v = 27/28), what OpenZeppelin's ECDSA.recover accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode
from eth_keys import keys
from eth_utils import keccak, to_canonical_address

DOMAIN_TYPE = b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
VOUCHER_TYPE = b"Voucher(address requester,address executor,uint256 cumulative)"
TASK_ORDER_TYPE = (
    b"TaskOrder(address requester,bytes32 specHash,uint8 determinism,uint8 redundancy,"
    b"uint128 reward,uint128 collateral,uint64 deadline,uint32 claimTimeout,address[] executors,"
    b"uint256 nonce)"
)
RECEIPT_TYPE = (
    b"ResultReceipt(bytes32 orderHash,address executor,uint8 determinism,bytes32 resultHash)"
)
PEER_BINDING_TYPE = b"PeerBinding(address account,bytes32 peerIdHash)"
MARKET_DOMAIN = ("OARN TaskMarket", "2")
REGISTRY_DOMAIN = ("OARN Registry", "2")
PEER_ID_PREFIX = bytes.fromhex("002508021221")  # identity multihash + libp2p secp256k1 key header


@dataclass(frozen=True)
class Domain:
    """An EIP-712 domain: contract name, version, chain id and address."""

    name: str
    version: str
    chain_id: int
    contract: str

    def separator(self) -> bytes:
        return keccak(
            encode(
                ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                [
                    keccak(DOMAIN_TYPE),
                    keccak(text=self.name),
                    keccak(text=self.version),
                    self.chain_id,
                    self.contract,
                ],
            )
        )

    def digest(self, struct_hash: bytes) -> bytes:
        return keccak(b"\x19\x01" + self.separator() + struct_hash)


def market_domain(chain_id: int, market: str) -> Domain:
    return Domain(*MARKET_DOMAIN, chain_id, market)


def registry_domain(chain_id: int, registry: str) -> Domain:
    return Domain(*REGISTRY_DOMAIN, chain_id, registry)


@dataclass(frozen=True)
class TaskOrder:
    """A requester's signed order: what to run, for how much, by which assigned executors."""

    requester: str
    spec_hash: bytes
    determinism: int
    redundancy: int
    reward: int
    collateral: int
    deadline: int
    claim_timeout: int
    executors: tuple[str, ...]
    nonce: int

    def as_tuple(self) -> tuple[object, ...]:
        """The ABI tuple TaskMarket functions take."""
        return (
            self.requester,
            self.spec_hash,
            self.determinism,
            self.redundancy,
            self.reward,
            self.collateral,
            self.deadline,
            self.claim_timeout,
            list(self.executors),
            self.nonce,
        )

    def struct_hash(self) -> bytes:
        executors = keccak(b"".join(encode(["address"], [e]) for e in self.executors))
        return keccak(
            encode(
                [
                    "bytes32",
                    "address",
                    "bytes32",
                    "uint8",
                    "uint8",
                    "uint128",
                    "uint128",
                    "uint64",
                    "uint32",
                    "bytes32",
                    "uint256",
                ],
                [
                    keccak(TASK_ORDER_TYPE),
                    self.requester,
                    self.spec_hash,
                    self.determinism,
                    self.redundancy,
                    self.reward,
                    self.collateral,
                    self.deadline,
                    self.claim_timeout,
                    executors,
                    self.nonce,
                ],
            )
        )


def voucher_struct_hash(requester: str, executor: str, cumulative: int) -> bytes:
    return keccak(
        encode(
            ["bytes32", "address", "address", "uint256"],
            [keccak(VOUCHER_TYPE), requester, executor, cumulative],
        )
    )


def receipt_struct_hash(order_hash: bytes, executor: str, determinism: int, result: bytes) -> bytes:
    return keccak(
        encode(
            ["bytes32", "bytes32", "address", "uint8", "bytes32"],
            [keccak(RECEIPT_TYPE), order_hash, executor, determinism, result],
        )
    )


def sign_digest(private_key: bytes, digest: bytes) -> bytes:
    """r ‖ s ‖ v with v in {27, 28}."""
    signature = keys.PrivateKey(private_key).sign_msg_hash(digest)
    packed: bytes = (
        signature.r.to_bytes(32, "big")
        + signature.s.to_bytes(32, "big")
        + bytes([signature.v + 27])
    )
    return packed


def sign_voucher(
    key: bytes, domain: Domain, requester: str, executor: str, cumulative: int
) -> bytes:
    return sign_digest(key, domain.digest(voucher_struct_hash(requester, executor, cumulative)))


def sign_order(key: bytes, domain: Domain, order: TaskOrder) -> bytes:
    return sign_digest(key, domain.digest(order.struct_hash()))


def sign_receipt(
    key: bytes, domain: Domain, order: TaskOrder, executor: str, result: bytes
) -> tuple[tuple[object, ...], bytes]:
    """The ResultReceipt ABI tuple for `order` and the executor's signature over it."""
    order_hash = order.struct_hash()
    receipt = (order_hash, executor, order.determinism, result)
    digest = domain.digest(receipt_struct_hash(order_hash, executor, order.determinism, result))
    return receipt, sign_digest(key, digest)


def peer_public_key(peer_key: bytes) -> bytes:
    """The 64-byte uncompressed (x ‖ y) secp256k1 public key of a peer private key."""
    return keys.PrivateKey(peer_key).public_key.to_bytes()


def peer_id_bytes(public_key: bytes) -> bytes:
    """libp2p peer ID (identity multihash) of a secp256k1 key, as OARNRegistryV2.peerIdOf."""
    prefix = b"\x03" if public_key[63] & 1 else b"\x02"
    return PEER_ID_PREFIX + prefix + public_key[:32]


def sign_peer_binding(peer_key: bytes, domain: Domain, account: str) -> tuple[bytes, bytes]:
    """(public key, signature) binding the peer key's ID to `account` for registerNode."""
    public_key = peer_public_key(peer_key)
    struct_hash = keccak(
        encode(
            ["bytes32", "address", "bytes32"],
            [keccak(PEER_BINDING_TYPE), account, keccak(peer_id_bytes(public_key))],
        )
    )
    return public_key, sign_digest(peer_key, domain.digest(struct_hash))


def checksum_list(addresses: Sequence[str]) -> tuple[str, ...]:
    """Addresses normalised for hashing (canonical bytes round-trip rejects malformed ones)."""
    return tuple("0x" + to_canonical_address(a).hex() for a in addresses)
