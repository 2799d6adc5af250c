"""Registry findings (v1 attack succeeds, v2 refuses) and the v2 model registry."""

from __future__ import annotations

from eth_utils import keccak
from v2_support import TOKEN, Chain, key_of

from oarn_tui.chain.v2.typed_data import peer_id_bytes, peer_public_key, sign_peer_binding

CHURN = 40


def _view_gas(chain: Chain, function: object) -> int:
    return int(function.estimate_gas({"from": chain.deployer}))  # type: ignore[attr-defined]


def test_churn_grows_v1_provider_reads_not_v2(chain: Chain) -> None:
    operator = chain.accounts[2]
    for system, registry in ((chain.v1, chain.v1["registry"]), (chain.v2, chain.v2["registry"])):
        chain.tx(system["gov"].functions.transfer(operator, 2_000 * TOKEN), chain.deployer)
        chain.tx(system["gov"].functions.approve(registry.address, 2**256 - 1), operator)
    v1 = chain.v1["registry"]
    chain.tx(chain.v1["gov"].functions.approve(v1.address, 2**256 - 1), chain.deployer)
    chain.tx(v1.functions.registerProvider(0, "http://live", 1_000 * TOKEN), chain.accounts[0])
    before = _view_gas(chain, v1.functions.getRpcProviders())
    for _ in range(CHURN):  # register + deregister leaves a dead entry every time
        chain.tx(v1.functions.registerProvider(0, "http://churn", 1_000 * TOKEN), operator)
        chain.tx(v1.functions.deregisterProvider(0), operator)
    per_entry = (_view_gas(chain, v1.functions.getRpcProviders()) - before) / CHURN
    assert per_entry > 2_000  # ≈ 30M / per_entry dead entries break the read
    assert 30_000_000 / per_entry < 20_000

    v2 = chain.v2["registry"]
    chain.tx(chain.v2["gov"].functions.approve(v2.address, 2**256 - 1), chain.deployer)
    chain.tx(v2.functions.registerProvider(0, "http://live", 1_000 * TOKEN), chain.deployer)
    before = _view_gas(chain, v2.functions.activeProviders(0, 0, 100))
    balance = chain.gov(operator)
    for _ in range(CHURN // 4):
        chain.tx(v2.functions.registerProvider(0, "http://churn", 1_000 * TOKEN), operator)
        chain.tx(v2.functions.requestExit(0), operator)
        chain.advance(int(v2.functions.exitDelay().call()) + 1)
        chain.tx(v2.functions.completeExit(0), operator)
    assert abs(_view_gas(chain, v2.functions.activeProviders(0, 0, 100)) - before) < 500
    ids, endpoints = v2.functions.activeProviders(0, 0, 100).call()
    assert (ids, endpoints) == ([1], ["http://live"])
    assert chain.gov(operator) == balance  # every exit returned the stake


def test_peer_id_squatting_v1_succeeds_v2_needs_the_peer_key(chain: Chain) -> None:
    honest, squatter = chain.accounts[2], chain.accounts[3]
    v1 = chain.v1["registry"]
    chain.tx(v1.functions.registerNode("12D3KooWHonestPeer", "cpu"), squatter)
    chain.reverts(v1.functions.registerNode("12D3KooWHonestPeer", "cpu"), honest, "PeerIdTaken")

    v2 = chain.v2["registry"]
    peer_key = key_of(999)
    public_key, signature = sign_peer_binding(peer_key, chain.registry_domain, honest)
    peer_id = peer_id_bytes(public_key)
    assert v2.functions.peerIdOf(public_key).call() == peer_id
    # the squatter replays the honest binding, or signs with its own key: both refused
    replay = v2.functions.registerNode(public_key, signature, "cpu")
    chain.reverts(replay, squatter, "BadPeerSignature")
    _, own_signature = sign_peer_binding(key_of(998), chain.registry_domain, squatter)
    chain.reverts(
        v2.functions.registerNode(public_key, own_signature, "cpu"), squatter, "BadPeerSignature"
    )
    chain.tx(replay, honest)
    assert v2.functions.accountOfPeer(peer_id).call() == honest
    assert v2.functions.getNode(honest).call()[0] == peer_id
    # the key holder moves its peer ID to another account of its own
    moved_key, moved_sig = sign_peer_binding(peer_key, chain.registry_domain, squatter)
    assert moved_key == peer_public_key(peer_key)
    chain.tx(v2.functions.registerNode(moved_key, moved_sig, "gpu"), squatter)
    assert v2.functions.accountOfPeer(peer_id).call() == squatter
    assert v2.functions.nodeAccounts(0, 10).call() == [squatter]


def test_model_registry_records_once(chain: Chain) -> None:
    models, publisher = chain.v2["models"], chain.accounts[4]
    digest = keccak(text="file")
    entry = ("tinyllama", "1.1", "bafkmodel", "gguf", 1_234, digest, "Apache-2.0")
    chain.tx(models.functions.publish(*entry), publisher)
    model_id = models.functions.modelId(publisher, "tinyllama", "1.1").call()
    stored = models.functions.getModel(model_id).call()
    assert stored[0] == publisher and list(stored[3:]) == [1_234, digest, *entry[:4], "Apache-2.0"]
    chain.reverts(models.functions.publish(*entry), publisher, "AlreadyPublished")
    chain.reverts(models.functions.deprecate(model_id), chain.accounts[5], "NotPublisher")
    assert models.functions.modelIds(0, 10).call() == [model_id]
