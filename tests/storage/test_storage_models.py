"""`oarn model add|list|info|remove|pull` through click's CliRunner, and ModelStore.pull."""

from __future__ import annotations

import json
import random
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from oarn_tui.cli_support import AppContext
from oarn_tui.commands.model import model
from oarn_tui.config import load_config
from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.content import LocalContentStore
from oarn_tui.storage.fetch import StoreFetcher
from oarn_tui.storage.service import open_storage
from oarn_tui.storage.unixfs import CHUNK_SIZE, ImportOptions, import_path


def _cli(home: Path, *args: str) -> tuple[int, str, str]:
    root = click.Group()
    root.add_command(model)
    result = CliRunner().invoke(root, ["model", *args], obj=AppContext(home=home))
    return result.exit_code, result.stdout, result.stderr


def _onnx_model(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_storage_model_add_list_info_remove(tmp_path: Path) -> None:
    home = tmp_path / "home"
    source = _onnx_model(tmp_path / "relu.onnx")
    code, out, err = _cli(home, "add", str(source), "--name", "relu", "--json")
    assert code == 0, err
    added = json.loads(out)
    expected_cid = str(import_path(source, ImportOptions.v1()).cid)
    assert added["cid"] == expected_cid
    assert added["name"] == "relu" and added["format"] == "onnx"
    assert added["size"] == source.stat().st_size and added["pinned"] is True
    assert Path(added["path"]).read_bytes() == source.read_bytes()
    assert "determinism" in added  # the compute layer's fields are merged in

    code, out, _ = _cli(home, "add", str(source), "--name", "relu")
    assert code == 0 and out.strip() == expected_cid  # idempotent; human output is the CID

    code, out, _ = _cli(home, "list", "--json")
    assert [row["name"] for row in json.loads(out)["models"]] == ["relu"]
    code, out, _ = _cli(home, "list")
    assert "relu" in out and expected_cid in out

    for ref in ("relu", expected_cid):
        code, out, _ = _cli(home, "info", ref, "--json")
        assert code == 0 and json.loads(out)["sha256"] == added["sha256"]
        assert json.loads(out)["origin"] == {"kind": "file", "path": str(source.resolve())}
    code, out, _ = _cli(home, "info", "relu")
    assert f"origin: file {source.resolve()}" in out  # where the model came from

    code, out, _ = _cli(home, "remove", expected_cid, "--json")
    assert code == 0
    assert json.loads(out)["removed_blocks"] == 1
    assert not Path(added["path"]).exists()
    code, out, _ = _cli(home, "list", "--json")
    assert json.loads(out)["models"] == []
    storage = open_storage(load_config(home))
    try:
        assert storage.blocks.count() == 0
    finally:
        storage.close()


def test_storage_model_remove_keeps_blocks_another_model_pins(tmp_path: Path) -> None:
    home = tmp_path / "home"
    source = tmp_path / "weights.bin"
    source.write_bytes(random.Random(31).randbytes(2 * CHUNK_SIZE + 1))
    assert _cli(home, "add", str(source), "--name", "a")[0] == 0
    assert _cli(home, "add", str(source), "--name", "b")[0] == 0
    code, out, _ = _cli(home, "remove", "a", "--json")
    assert code == 0 and json.loads(out)["removed_blocks"] == 0
    code, out, _ = _cli(home, "info", "b", "--json")
    info = json.loads(out)
    assert info["pinned"] and Path(info["path"]).read_bytes() == source.read_bytes()
    assert info["format"] == "unknown"


def test_storage_model_bad_input_gives_one_line_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    source = tmp_path / "m.onnx"
    source.write_bytes(b"not really onnx")
    cases = [
        (("add", str(tmp_path / "missing.onnx")), "is not a readable file"),
        (("add", str(source), "--name", "../evil"), "invalid model name"),
        (("info", "nothing"), "no model named"),
        (("remove", "nothing"), "no model named"),
        (("pull", "not-a-cid"), "not a CID"),
        (("pull", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyka"),
         "needs a running node"),
    ]
    for args, message in cases:
        code, _out, err = _cli(home, *args)
        assert code == 1, args
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    other = tmp_path / "other.onnx"
    other.write_bytes(b"other bytes")
    assert _cli(home, "add", str(source), "--name", "m")[0] == 0
    code, _, err = _cli(home, "add", str(other), "--name", "m")
    assert code == 1 and "already exists" in err


def test_storage_model_pull_registers_complete_local_dag(tmp_path: Path) -> None:
    home = tmp_path / "home"
    storage = open_storage(load_config(home))
    data = random.Random(32).randbytes(CHUNK_SIZE + 5)
    root = storage.local.add_file_sync(data)
    storage.close()
    code, out, err = _cli(home, "pull", str(root), "--name", "cached", "--json")
    assert code == 0, err
    assert json.loads(out)["cid"] == str(root)


async def test_storage_model_pull_through_fetcher_with_progress(tmp_path: Path) -> None:
    remote = LocalContentStore(Blockstore(tmp_path / "remote"))
    data = random.Random(33).randbytes(4 * CHUNK_SIZE + 9)
    root = remote.add_file_sync(data, pin_reason="model:remote")
    storage = open_storage(load_config(tmp_path / "home"))
    progress: list[tuple[int, int]] = []
    try:
        manifest = await storage.models.pull(str(root), StoreFetcher(remote.blocks), "pulled",
                                             progress=lambda d, t: progress.append((d, t)))
        assert manifest["size"] == len(data)
        assert Path(manifest["path"]).read_bytes() == data
        assert storage.blocks.is_pinned(root)
        assert progress[-1] == (len(data), len(data))
        assert storage.models.find("pulled")["cid"] == str(root)
        assert storage.models.find("pulled")["origin"] == {"kind": "network", "resolved": "cid"}
        origin = {"kind": "network", "resolved": "cid", "ref": str(root),
                  "peers": ["12D3KooWPeerA", "12D3KooWPeerB"]}
        again = await storage.models.pull(str(root), StoreFetcher(remote.blocks), "again",
                                          origin=origin)
        assert again["origin"] == origin
    finally:
        storage.close()
    code, out, _ = _cli(tmp_path / "home", "info", "again")
    assert code == 0
    assert "origin: network, resolved by cid, from 2 peers: 12D3KooWPeerA, 12D3KooWPeerB" in out


async def test_storage_model_failed_pull_leaves_no_pin(tmp_path: Path) -> None:
    empty_remote = Blockstore(tmp_path / "remote")
    storage = open_storage(load_config(tmp_path / "home"))
    root = import_path(_onnx_model(tmp_path / "x.onnx")).cid
    try:
        from oarn_tui.storage.fetch import FetchError

        with pytest.raises(FetchError):
            await storage.models.pull(root, StoreFetcher(empty_remote), "x")
        assert storage.blocks.pins() == []
        assert storage.models.list() == []
    finally:
        storage.close()
