"""Signed envelopes and their validation: size, schema, signature, binding, freshness, replay,
per-peer rate, scoring and once-per-window logging."""

from __future__ import annotations

import json
import logging
import os
import time

import pytest

from oarn_tui.p2p.host import generate_identity, peer_id_of
from oarn_tui.p2p.messages import (
    MAX_MESSAGE_BYTES,
    MessageError,
    decode_message,
    encode_message,
    make_binding,
)
from oarn_tui.p2p.scoring import PeerScores
from oarn_tui.p2p.validation import RELAY_FACTOR, MessageValidator, RateWindow
from oarn_tui.wallet.signer import LocalSigner

FORWARDER = "12D3KooWForwarder"


@pytest.fixture(scope="module")
def identity() -> tuple[object, object]:
    key_pair = generate_identity()
    return key_pair, make_binding(LocalSigner.from_key(os.urandom(32)), peer_id_of(key_pair))


def tasks_body(count: int = 3) -> dict[str, object]:
    return {"tasks": [{"task_id": f"t{i}", "reward": "1.5"} for i in range(count)]}


def test_round_trip_keeps_sender_binding_and_batched_body(identity) -> None:
    key_pair, binding = identity
    envelope = decode_message(encode_message(key_pair, "tasks", tasks_body(5), binding))
    assert envelope.sender == peer_id_of(key_pair)
    assert envelope.binding == binding
    assert len(envelope.body["tasks"]) == 5


def test_padding_rounds_up_to_the_bucket_and_still_decodes(identity) -> None:
    key_pair, binding = identity
    data = encode_message(key_pair, "tasks", tasks_body(), binding, padding_bucket=1024)
    assert len(data) % 1024 == 0
    assert decode_message(data).body == tasks_body()


def _tampered(data: bytes, **changes: object) -> bytes:
    fields = json.loads(data)
    fields.update(changes)
    return json.dumps(fields).encode()


@pytest.mark.parametrize("mutate, reason", [
    (lambda d: d[: len(d) // 2], "malformed"),
    (lambda d: b"[1, 2]", "malformed"),
    (lambda d: _tampered(d, v=2), "bad_version"),
    (lambda d: _tampered(d, kind="gossip-bomb"), "bad_schema"),
    (lambda d: _tampered(d, body={"tasks": []}), "bad_schema"),
    (lambda d: _tampered(d, body={"tasks": [{}] * 65}), "bad_schema"),
    (lambda d: _tampered(d, sig=None), "unsigned"),
    (lambda d: _tampered(d, body={"tasks": [{"task_id": "forged"}]}), "bad_signature"),
    (lambda d: _tampered(d, **{"from": "12D3KooWSomebodyElse"}), "bad_signature"),
])
def test_invalid_messages_are_rejected_with_a_reason(identity, mutate, reason) -> None:
    key_pair, binding = identity
    with pytest.raises(MessageError) as caught:
        decode_message(mutate(encode_message(key_pair, "tasks", tasks_body(), binding)))
    assert caught.value.reason == reason


def test_oversized_messages_are_rejected_before_parsing() -> None:
    with pytest.raises(MessageError) as caught:
        decode_message(b"{" + b" " * MAX_MESSAGE_BYTES + b"}")
    assert caught.value.reason == "oversized"


def test_validator_drops_replay_stale_unbound_and_foreign_binding(identity) -> None:
    key_pair, binding = identity
    validator = MessageValidator(PeerScores())
    data = encode_message(key_pair, "tasks", tasks_body(), binding)
    assert validator.validate(FORWARDER, data).kind == "tasks"
    cases = [
        (data, "replay"),
        (encode_message(key_pair, "tasks", tasks_body(), binding,
                        now_ms=int(time.time() * 1000) - 3_600_000), "stale"),
        (encode_message(key_pair, "tasks", tasks_body(), None), "no_binding"),
        # a binding signed for another peer ID does not transfer
        (encode_message(generate_identity(), "tasks", tasks_body(), binding), "bad_binding"),
    ]
    for message, reason in cases:
        with pytest.raises(MessageError) as caught:
            validator.validate(FORWARDER, message)
        assert caught.value.reason == reason
    assert validator.dropped == {"replay": 1, "stale": 1, "no_binding": 1, "bad_binding": 1}
    assert validator.accepted == 1


def test_rate_limit_penalises_the_forwarder_and_a_low_score_bans_it(identity) -> None:
    key_pair, binding = identity
    scores = PeerScores(ban_threshold=-20.0)
    validator = MessageValidator(scores, rate_per_s=0.001, rate_burst=5)
    messages = [encode_message(key_pair, "tasks", tasks_body(1), binding) for _ in range(8)]
    outcomes = [validator.is_valid(FORWARDER, m) for m in messages]
    assert outcomes == [True] * 5 + [False] * 3
    assert validator.dropped["rate_limited"] == 3
    assert scores.score(FORWARDER) < 0
    gossip = MessageValidator(scores)  # same scores, normal rate limit
    for _ in range(5):
        gossip.is_valid(FORWARDER, b"{garbage")
    assert scores.is_banned(FORWARDER)
    assert not gossip.is_valid(FORWARDER, messages[0])  # banned peers are ignored
    assert gossip.dropped["banned"] >= 1
    assert not gossip.is_valid("12D3KooWOther", b"{garbage")
    assert not scores.is_banned("12D3KooWOther")


def test_rate_limit_follows_the_origin_and_spares_honest_relays(identity) -> None:
    key_pair, binding = identity
    scores = PeerScores()
    validator = MessageValidator(scores, rate_per_s=0.001, rate_burst=3)
    flood = [encode_message(key_pair, "tasks", tasks_body(1), binding) for _ in range(6)]
    relay, flooder = "12D3KooWRelay", "12D3KooWFlooder"
    # the flooder's messages are cut after its burst, whichever peer delivers them
    assert [validator.is_valid(flooder, m) for m in flood[:4]] == [True] * 3 + [False]
    assert not validator.is_valid(relay, flood[4], origin=flooder)
    assert scores.score(flooder) < 0
    assert scores.score(relay) == 0  # relaying in good faith costs nothing
    # the relay's own messages still pass: its budget as an origin is untouched
    own = encode_message(key_pair, "tasks", tasks_body(2), binding)
    assert validator.is_valid(relay, own, origin=relay)
    # a relay inventing origins is still bounded, by its wider forwarder budget
    invented = [encode_message(key_pair, "tasks", tasks_body(3), binding) for _ in range(40)]
    outcomes = [validator.is_valid(relay, m, origin=f"12D3KooWFake{i}")
                for i, m in enumerate(invented)]
    assert outcomes == [True] * 3 * RELAY_FACTOR + [False] * (40 - 3 * RELAY_FACTOR)
    assert validator.dropped["rate_limited"] == 2 + 40 - 3 * RELAY_FACTOR


def test_each_peer_and_reason_is_logged_once_per_window(caplog: pytest.LogCaptureFixture) -> None:
    validator = MessageValidator(PeerScores())
    with caplog.at_level(logging.WARNING, logger="oarn.p2p.validation"):
        for _ in range(5):
            validator.is_valid(FORWARDER, b"{garbage")
        validator.is_valid(FORWARDER, b"x" * (MAX_MESSAGE_BYTES + 1))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert validator.dropped == {"malformed": 5, "oversized": 1}


def test_scores_decay_back_towards_zero() -> None:
    scores = PeerScores(half_life_s=0.05)
    scores.penalize("peer", "bad_signature")
    first = scores.score("peer")
    time.sleep(0.2)
    assert first < scores.score("peer") < 0


def test_rate_window_tells_how_long_to_wait() -> None:
    window = RateWindow(limit=2, window_s=1.0)
    window.record(now=10.0)
    window.record(now=10.4)
    assert window.delay(now=10.5) == pytest.approx(0.5)
    assert window.delay(now=11.0) == 0.0


def test_validator_memory_stays_bounded_when_peers_keep_minting_identities() -> None:
    """Each fresh identity delivering garbage adds a score and a log key; both tables stay
    capped however many identities an attacker mints (issue 14)."""
    from oarn_tui.p2p.validation import MAX_LOG_KEYS

    scores = PeerScores(max_peers=1_000)
    validator = MessageValidator(scores)
    logger = logging.getLogger("oarn.p2p.validation")
    level, logger.disabled = logger.level, True  # 12 000 warnings are not the point here
    try:
        for index in range(MAX_LOG_KEYS + 2_000):
            validator.is_valid(f"12D3KooWFresh{index}", b"{garbage")
    finally:
        logger.disabled = False
        logger.setLevel(level)
    assert len(scores.snapshot()) == 1_000
    assert "12D3KooWFresh0" not in scores.snapshot()  # the least recently seen went first
    assert scores.score(f"12D3KooWFresh{MAX_LOG_KEYS + 1_999}") < 0
    assert validator.sizes()["logged"] <= MAX_LOG_KEYS
    assert validator.dropped == {"malformed": MAX_LOG_KEYS + 2_000}
