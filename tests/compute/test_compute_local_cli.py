"""`oarn local inference` with tensor models, and its one-line errors."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import click
import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner

from oarn_tui.cli_support import AppContext
from oarn_tui.commands.local import local
from oarn_tui.compute.gguf import llama_cpp_installed
from oarn_tui.compute.tensors import load_tensors
from tests.compute import onnx_models

pytestmark = pytest.mark.timeout(120)


def invoke(home: Path, *args: str) -> click.testing.Result:
    root = click.Group()
    root.add_command(local)
    return CliRunner().invoke(root, ["local", *args], obj=AppContext(home=home))


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    model = onnx_models.mlp(tmp_path / "mlp.onnx")
    x = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, x=x)
    inputs = tmp_path / "in.npz"
    inputs.write_bytes(buffer.getvalue())
    return model, inputs, x


def test_tensor_inference_writes_canonical_outputs(tmp_path: Path, files: tuple) -> None:
    model, inputs, x = files
    out = tmp_path / "out" / "result.safetensors"
    result = invoke(tmp_path / "home", "inference", "--model", str(model), "--input",
                    str(inputs), "--output", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    data = out.read_bytes()
    assert summary["result_hash"] == hashlib.sha256(data).hexdigest()
    assert summary["outputs"] == {"label": {"dtype": "int64", "shape": [5]},
                                  "probs": {"dtype": "float32", "shape": [5, 3]}}
    assert summary["sandbox"]["network_isolated"] in (True, False)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    assert np.allclose(load_tensors(out)["probs"], session.run(["probs"], {"x": x})[0],
                       rtol=1e-6)
    human = invoke(tmp_path / "home", "inference", "--model", str(model), "--input",
                   str(inputs))
    assert human.exit_code == 0 and f"result hash  {summary['result_hash']}" in human.output
    assert "runtime      onnxruntime" in human.output


def test_bad_requests_give_one_line_errors(tmp_path: Path, files: tuple) -> None:
    model, inputs, x = files
    bad_shape = tmp_path / "bad.npz"
    buffer = io.BytesIO()
    np.savez(buffer, x=x[:, :2])
    bad_shape.write_bytes(buffer.getvalue())
    not_tensors = tmp_path / "notes.safetensors"
    not_tensors.write_text("hello")
    cases = [
        (["inference", "--model", str(tmp_path / "nope.onnx"), "--input", str(inputs)],
         "error: model file not found"),
        (["inference", "--model", str(model), "--input", str(not_tensors)],
         "error: not a safetensors file"),
        (["inference", "--model", str(model), "--input", str(bad_shape)],
         "error: inference failed: input 'x' has shape [5, 2], model expects float32['N', 4]"),
        (["inference", "--input", str(inputs)], "error: --input needs --model FILE"),
        (["inference"], "error: nothing to run"),
        (["inference", "hi", "--model", str(model), "--input", str(inputs)],
         "error: give either a PROMPT or --input"),
    ]
    for args, message in cases:
        result = invoke(tmp_path / "home", *args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output.strip().startswith(message), (args, result.output)
        assert len(result.output.strip().splitlines()) == 1


def test_local_inference_fails_closed_unless_no_sandbox_is_given(
        tmp_path: Path, files: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    from oarn_tui.compute import sandbox

    model, inputs, _x = files
    monkeypatch.setenv(sandbox.FORCE_ENV, "1")
    refused = invoke(tmp_path / "home", "inference", "--model", str(model), "--input",
                     str(inputs))
    assert refused.exit_code == 1 and len(refused.output.strip().splitlines()) == 1
    assert refused.output.startswith("error: inference failed: refused: the executor sandbox "
                                     "is not available — forced off by "
                                     "OARN_SANDBOX_FORCE_UNAVAILABLE=1")
    assert "--no-sandbox" in refused.output
    bare = invoke(tmp_path / "home", "inference", "--model", str(model), "--input",
                  str(inputs), "--no-sandbox", "--json")
    assert bare.exit_code == 0, bare.output
    report = json.loads(bare.output)["sandbox"]
    assert report["sandboxed"] is False and report["network_isolated"] is False
    assert "run without the sandbox" in report["notes"][0]


@pytest.mark.skipif(llama_cpp_installed(), reason="checks the hint shown without the llm extra")
def test_prompt_without_the_llm_extra_says_how_to_install(tmp_path: Path) -> None:
    result = invoke(tmp_path / "home", "inference", "hello")
    assert result.exit_code == 1 and "pip install 'oarn-tui[llm]'" in result.output


def test_local_node_needs_an_initialised_home(tmp_path: Path) -> None:
    result = invoke(tmp_path / "fresh")
    assert result.exit_code == 1 and "is not an OARN home yet" in result.output


def test_local_runs_the_node_with_network_disabled(home: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO, oarn_env, run_oarn

    assert run_oarn(home, "init", "--profile", "local").returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "oarn_tui", "--home", str(home), "local"],
                               env=oarn_env(home), cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        status: dict = {}
        for _ in range(60):
            probe = run_oarn(home, "status", "--json")
            if probe.returncode == 0:
                status = json.loads(probe.stdout)
                if status.get("running"):
                    break
            time.sleep(0.5)
        assert status.get("running") is True, status
        assert status["network"]["state"] in ("disabled", "stopped")  # no libp2p host
        assert status["peers"] == 0 and status["listen_addrs"] == []
        services = status["services"]
        for name in ("hardware", "compute"):
            if name in services:  # present once the lead registers them
                assert services[name]["state"] == "running", services[name]
        if "compute" in services:  # the executor sandbox's layers, probed at start
            assert {"ok", "layers", "reason"} <= set(status["sandbox"])
            assert status["sandbox"]["ok"] == (status["sandbox"]["reason"] == "")
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "runs with no network" in err
