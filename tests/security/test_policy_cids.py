"""Chain strings decide, announced names do not: `accepted_models` and file paths (issue 14,
findings 7 and 10), attacked on a real in-process chain with a real worker node."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from oarn_tui.compute.tensors import encode_canonical
from oarn_tui.samples import sample_model
from oarn_tui.storage.cid import CID, RAW
from tests.security.worker_node import (
    announcement,
    item,
    stake_worker,
    start_chain,
    start_worker,
    wait_for,
)

# the chain poller never sees these tasks: the announcement is the only way in
GOSSIP_ONLY = {"OARN_BLOCKCHAIN_CONFIRMATIONS": "64"}
END_OR_CLAIMED = ("claimed", "fetching", "running", "storing", "submitted", "rejected", "failed",
                  "released", "rewarded")

_OPENED: list[str] = []
_RECORDING: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _RECORDING and event == "open" and args and isinstance(args[0], str | bytes | Path):
        _OPENED.append(os.path.realpath(os.fsdecode(args[0])))


sys.addaudithook(_audit)


def foreign_cid() -> str:
    return str(CID(1, RAW, os.urandom(32)))


async def test_a_hostile_cid_announced_with_an_accepted_name_is_not_claimed(
        tmp_path: Path) -> None:
    chain = await start_chain(tmp_path)
    await stake_worker(chain, chain.keys[1], tmp_path)
    env = {**GOSSIP_ONLY, "OARN_COMPUTE_ACCEPTED_MODELS": '["mlp-*"]'}
    runtime = await start_worker(chain, tmp_path / "worker", env)
    try:
        pipeline, ledger = runtime.services["pipeline"], runtime.ledger
        worker = runtime.services["chain"].contracts
        bound = runtime.services["storage"].storage.models.add(sample_model(), "mlp-mnist")
        hostile = await chain.submit(foreign_cid(), foreign_cid())
        honest = await chain.submit(bound["cid"], foreign_cid())
        await pipeline._on_announcement(announcement(
            [item(hostile, "mlp-mnist"), item(honest, "anything")], account_key=chain.keys[0]))
        await wait_for(lambda: all((r := ledger.get(str(t))) is not None
                                   and r.stage in END_OR_CLAIMED for t in (hostile, honest)),
                       60, "both tasks to be decided")
        refused = ledger.get(str(hostile))
        assert refused is not None and refused.stage == "rejected", refused
        assert "announced name 'mlp-mnist' counts only when the local model store binds it" \
            in refused.failure_reason
        assert (await worker.get_claim(hostile)).state == "none"
        assert await chain.requester.claimants(hostile) == []
        # the same policy takes the task whose on-chain CID the node's own store names mlp-*
        await wait_for(lambda: (r := ledger.get(str(honest))) is not None
                       and r.stage not in ("accepted",), 60, "the honest task's claim")
        taken = ledger.get(str(honest))
        assert taken is not None and taken.stage != "rejected", taken
        assert taken.model == "mlp-mnist"
        assert (await worker.get_claim(honest)).state == "claimed"
    finally:
        await runtime.stop()
        runtime.close()


async def test_chain_strings_that_are_no_cids_never_open_a_file_outside_the_store(
        tmp_path: Path) -> None:
    """`../../../x` as the model and input CID would name files beside the worker's home."""
    shutil.copy(sample_model(), tmp_path / "x.onnx")
    inputs = {"x": np.ones((1, 4), np.float32)}
    (tmp_path / "in.safetensors").write_bytes(encode_canonical(inputs))
    outside = {str((tmp_path / name).resolve()) for name in ("x.onnx", "in.safetensors")}
    chain = await start_chain(tmp_path)
    await stake_worker(chain, chain.keys[1], tmp_path)
    runtime = await start_worker(chain, tmp_path / "home", GOSSIP_ONLY)
    try:
        ledger = runtime.ledger
        task_id = await chain.submit("../../../x", "../../../in")
        _OPENED.clear()
        _RECORDING.append(True)
        try:
            await runtime.services["pipeline"]._on_announcement(
                announcement([item(task_id, "mlp")], account_key=chain.keys[0]))
            await wait_for(lambda: (r := ledger.get(str(task_id))) is not None
                           and r.stage in ("rejected", "failed", "storing", "submitted",
                                           "rewarded"), 60, "the task to end")
        finally:
            _RECORDING.clear()
        record = ledger.get(str(task_id))
        assert record is not None and record.stage == "rejected", record
        assert record.failure_reason == "the task's model_cid '../../../x' is not a CID"
        stages = [event.stage for event in ledger.timeline(str(task_id))]
        assert "fetching" not in stages and "running" not in stages, stages
        assert not outside.intersection(_OPENED), sorted(outside.intersection(_OPENED))
        assert runtime.services["compute"].running == 0
        assert (await runtime.services["chain"].contracts.get_claim(task_id)).state == "none"
    finally:
        await runtime.stop()
        runtime.close()
