"""Acceptance decisions and their human-readable reasons, from config + telemetry."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from oarn_tui.compute.policy import AcceptancePolicy, TaskRequirements
from oarn_tui.config import load_config
from oarn_tui.hardware.nvml import Nvml
from oarn_tui.hardware.telemetry import TelemetrySample, TelemetrySampler
from tests.hardware.fake_nvml import make_fake_pynvml, two_gpus

COMP = 10**18


def gpu_sample(cpu: float = 5.0, ram_free_mb: int = 16384, temperature: int = 71
               ) -> TelemetrySample:
    gpus = two_gpus()
    gpus[0].temperature = temperature
    sample = TelemetrySampler(Nvml(module=make_fake_pynvml(gpus))).sample_now()
    return dataclasses.replace(sample, cpu_percent=cpu, ram_total_mb=32768,
                               ram_available_mb=ram_free_mb)


def policy(tmp_path: Path, env: dict[str, str] | None = None) -> AcceptancePolicy:
    return AcceptancePolicy.from_config(load_config(tmp_path, env=env or {}))


def task(**changes: object) -> TaskRequirements:
    base = TaskRequirements(framework="onnx", min_vram_mb=2048, min_ram_mb=1024,
                            max_runtime_s=60, model_name="resnet50", model_cid="bafyabc",
                            reward_wei=2 * COMP)
    return dataclasses.replace(base, **changes)


def test_accepts_when_everything_fits(tmp_path: Path) -> None:
    decision = policy(tmp_path).decide(task(), gpu_sample())
    assert decision.accepted and bool(decision)
    assert decision.reason == "accepted: resources and policy allow it"


def test_vram_reason_names_need_headroom_and_free(tmp_path: Path) -> None:
    decision = policy(tmp_path).decide(task(min_vram_mb=12 * 1024), gpu_sample())
    assert not decision.accepted
    assert decision.reason == "needs 12 GiB VRAM + 0.5 GiB headroom, 7.5 GiB free"
    no_headroom = policy(tmp_path, {"OARN_COMPUTE_VRAM_HEADROOM_MB": "0"})
    assert no_headroom.decide(task(min_vram_mb=12 * 1024), gpu_sample()).reason == \
        "needs 12 GiB VRAM, 7.5 GiB free"


@pytest.mark.parametrize(("env", "requirements", "sample", "reason"), [
    ({"OARN_COMPUTE_FRAMEWORKS": '["gguf"]'}, {}, {},
     "framework 'onnx' is not offered (offered: gguf)"),
    ({"OARN_COMPUTE_ACCEPTED_MODELS": '["llama-*", "bafyxyz*"]'}, {}, {},
     "model 'bafyabc' matches no accepted_models pattern (the announced name 'resnet50' "
     "counts only when the local model store binds it to this CID)"),
    ({"OARN_COMPUTE_MIN_REWARD": '"2.5"'}, {}, {},
     "reward 2 COMP is below min_reward 2.5 COMP"),
    ({}, {"min_ram_mb": 20000}, {},
     "needs 19.5 GiB RAM + 1 GiB headroom, 16 GiB free"),
    ({"OARN_COMPUTE_MAX_TEMPERATURE_C": "70"}, {}, {}, "GPU at 71 °C, limit 70 °C"),
    ({"OARN_COMPUTE_ONLY_WHEN_IDLE": "true"}, {}, {"cpu": 55.0},
     "machine busy: CPU at 55 %, idle means under 30 %"),
    ({"OARN_COMPUTE_TASK_TIMEOUT_S": "30"}, {}, {},
     "needs up to 60 s, task_timeout_s is 30 s"),
])
def test_refusals_say_why(tmp_path: Path, env: dict[str, str], requirements: dict[str, object],
                          sample: dict[str, float], reason: str) -> None:
    decision = policy(tmp_path, env).decide(task(**requirements), gpu_sample(**sample))
    assert (decision.accepted, decision.reason) == (False, reason)


def test_patterns_match_name_or_cid_and_slots_and_gpu_absence(tmp_path: Path) -> None:
    by_cid = policy(tmp_path, {"OARN_COMPUTE_ACCEPTED_MODELS": '["bafyab*"]'})
    assert by_cid.decide(task(), gpu_sample()).accepted
    busy = policy(tmp_path).decide(task(), gpu_sample(), running_tasks=2)
    assert busy.reason == "busy: 2 of 2 task slots in use"
    cpu_only = dataclasses.replace(gpu_sample(), gpus=())
    assert policy(tmp_path).decide(task(), cpu_only).reason == "needs 2 GiB VRAM, no GPU"
    assert policy(tmp_path).decide(task(min_vram_mb=0), cpu_only).accepted
    assert policy(tmp_path).decide(task(), None).reason == "no hardware telemetry yet"
    idle = policy(tmp_path, {"OARN_COMPUTE_ONLY_WHEN_IDLE": "true"})
    assert idle.decide(task(), gpu_sample(cpu=12.0)).accepted


def test_an_announced_name_alone_never_satisfies_a_name_pattern(tmp_path: Path) -> None:
    """A hostile CID announced as `resnet50` does not pass a `resnet*` policy; the same name
    bound to that CID by the node's own model store does."""
    named = policy(tmp_path, {"OARN_COMPUTE_ACCEPTED_MODELS": '["resnet*"]'})
    refused = named.decide(task(), gpu_sample())
    assert not refused.accepted and "announced name 'resnet50'" in refused.reason
    assert named.decide(task(local_names=("resnet50",)), gpu_sample()).accepted
    assert named.decide(task(model_name="", local_names=("resnet-local",)), gpu_sample()).accepted


def test_cid_entries_match_the_chain_cid_in_either_version(tmp_path: Path) -> None:
    from oarn_tui.storage.cid import CID, DAG_PB

    v0 = CID(0, DAG_PB, bytes(range(32)))
    v1 = v0.to_v1()
    for entry, chain in ((str(v0), str(v1)), (str(v1), str(v0)), (str(v1), str(v1))):
        exact = policy(tmp_path, {"OARN_COMPUTE_ACCEPTED_MODELS": json.dumps([entry])})
        assert exact.decide(task(model_cid=chain), gpu_sample()).accepted, (entry, chain)
    other = CID(1, DAG_PB, bytes(32))
    exact = policy(tmp_path, {"OARN_COMPUTE_ACCEPTED_MODELS": json.dumps([str(v1)])})
    assert not exact.decide(task(model_cid=str(other), model_name=str(v1)), gpu_sample())


def test_names_bound_to_reads_only_manifests_of_that_exact_cid() -> None:
    from oarn_tui.compute.policy import names_bound_to
    from oarn_tui.storage.cid import CID, DAG_PB, RAW

    mine = CID(1, DAG_PB, bytes(range(32)))
    manifests = [{"name": "mlp-mnist", "cid": str(mine)},
                 {"name": "mlp-old", "cid": str(CID(0, DAG_PB, bytes(range(32))))},
                 {"name": "mlp-raw", "cid": str(CID(1, RAW, bytes(range(32))))},
                 {"name": "mlp-other", "cid": str(CID(1, DAG_PB, bytes(32)))},
                 {"name": "mlp-broken", "cid": "../../x"}]
    assert names_bound_to(str(mine), manifests) == ("mlp-mnist", "mlp-old")
    assert names_bound_to("../../x", manifests) == ()
