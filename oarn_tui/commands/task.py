"""`oarn task`: requesters submit and collect; workers list, inspect and claim by hand.

Requester commands go through the home's running node when there is one; otherwise they start
an embedded node for the duration of the command (until an executor has claimed the task and so
holds the data, or with `--wait` until the result is fetched and verified).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import click

from oarn_tui.cli_support import AppContext, UserError, emit, json_option, pass_app
from oarn_tui.commands.chain import task_history, task_list, task_status
from oarn_tui.commands.node_access import Node
from oarn_tui.textsafe import safe_text

PUBLIC_NOTICE = ("note: the model and input are public on the network: any node can fetch them "
                 "by CID.")


@click.group()
def task() -> None:
    """Submit tasks, collect results, and see or claim the network's tasks."""


task.add_command(task_list, "list")
task.add_command(task_status, "status")
task.add_command(task_history, "history")


def _node(app: AppContext, password_file: Path | None) -> Any:
    """The home's daemon, else a whole embedded node (it serves the model and input)."""
    from oarn_tui.commands.node_access import node_for

    return node_for(app, "full", password_file=password_file)


async def _until_executor_has_data(node: Node, task_id: int, timeout_s: float) -> bool:
    """Embedded requester: stay up (serving model and input) until an executor has submitted
    a result, which proves it fetched the data; the task may then be finalized by anyone."""
    deadline = time.monotonic() + timeout_s
    contracts = node.runtime.chain.contracts
    while time.monotonic() < deadline:
        view = await contracts.get_task(task_id)
        if view.results > 0 or view.status != "open":
            return True
        await asyncio.sleep(0.5)
    return False


password_option = click.option("--password-file", type=click.Path(dir_okay=False,
                                                                    path_type=Path),
                               help="Wallet passphrase file (also OARN_PASSWORD_FILE).")


@task.command()
@click.option("--model", required=True, help="Model file (.onnx, .gguf, .pt) or its CID.")
@click.option("--input", "input_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Input tensors (.safetensors or .npz).")
@click.option("--reward", required=True, help="COMP paid to each executor, e.g. 2.5.")
@click.option("--redundancy", default=1, show_default=True, type=click.IntRange(1, 16),
              help="Executors that must agree (R > 1 uses commit-reveal).")
@click.option("--deadline", "deadline_s", default=600, show_default=True,
              type=click.IntRange(30, 30 * 86400), help="Seconds until refund.")
@click.option("--require-vram", "min_vram_mb", default=0, type=click.IntRange(0),
              help="Minimum free VRAM in MB.")
@click.option("--require-ram", "min_ram_mb", default=0, type=click.IntRange(0),
              help="Minimum free RAM in MB.")
@click.option("--max-runtime", "max_runtime_s", default=120, show_default=True,
              type=click.IntRange(1, 86400), help="Seconds an executor may run.")
@click.option("--determinism", default="auto", show_default=True,
              help="auto (this node's class when R > 1), any, or a class id.")
@click.option("--wait", is_flag=True, help="Wait for the result and fetch it.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="With --wait: where to write the result (default <task id>.safetensors).")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait.")
@password_option
@json_option
@pass_app
def submit(app: AppContext, model: str, input_path: Path, reward: str, redundancy: int,
           deadline_s: int, min_vram_mb: int, min_ram_mb: int, max_runtime_s: int,
           determinism: str, wait: bool, out: Path | None, timeout: float,
           password_file: Path | None, as_json: bool) -> None:
    """Submit an inference task: store model and input, escrow R × reward, announce."""
    from oarn_tui.amounts import AmountError, amount_json, parse_amount
    from oarn_tui.pipeline.classes import ANY_CLASS, node_class

    try:
        reward_wei = parse_amount(reward)
    except AmountError as exc:
        raise UserError(f"--reward: {exc}") from None
    if reward_wei == 0:
        raise UserError("--reward must be more than 0")
    if determinism == "auto":
        class_id = node_class(app.config())[0] if redundancy > 1 else ANY_CLASS
    elif determinism == "any":
        class_id = ANY_CLASS
    elif determinism.isdigit():
        class_id = int(determinism)
    else:
        raise UserError("--determinism must be auto, any or a class id")
    if not as_json:
        click.echo(PUBLIC_NOTICE, err=True)

    async def run() -> dict[str, Any]:
        async with _node(app, password_file) as node:
            submitted: dict[str, Any] = await node.command(
                "task.submit", model=str(Path(model).absolute()) if Path(model).exists()
                else model, input_path=str(input_path.absolute()), reward_wei=reward_wei,
                redundancy=redundancy, deadline_s=deadline_s, min_vram_mb=min_vram_mb,
                min_ram_mb=min_ram_mb, max_runtime_s=max_runtime_s, determinism=class_id)
            task_id = int(submitted["task_id"])
            submitted["reward"] = amount_json(reward_wei)
            if wait:
                submitted["final"] = await node.command("task.wait", task_id=task_id,
                                                        timeout_s=timeout)
                if submitted["final"]["status"] == "finalized":
                    target = (out or Path(f"{task_id}.safetensors")).absolute()
                    submitted["result"] = await node.command("task.result", task_id=task_id,
                                                             out=str(target))
            elif node.runtime is not None:
                submitted["executor_has_data"] = await _until_executor_has_data(
                    node, task_id, timeout)
            return submitted

    result = asyncio.run(run())
    lines = [f"task {result['task_id']} submitted (model {result['model_cid']}, input "
             f"{result['input_cid']})"]
    if "result" in result:
        lines.append(f"result verified ({result['result']['result_hash']}) → "
                     f"{result['result']['out']}")
    elif wait:
        lines.append(f"task ended without a result: {result['final']['status']}")
    emit(result, as_json, "\n".join(lines))
    if wait and "result" not in result:
        raise SystemExit(1)


@task.command()
@click.argument("task_id", type=int)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the result tensors.")
@password_option
@json_option
@pass_app
def result(app: AppContext, task_id: int, out: Path, password_file: Path | None,
           as_json: bool) -> None:
    """Fetch a finalized task's result by CID and verify its hash against the chain."""

    async def run() -> dict[str, Any]:
        async with _node(app, password_file) as node:
            answer: dict[str, Any] = await node.command("task.result", task_id=task_id,
                                                        out=str(out.absolute()))
            return answer

    fetched = asyncio.run(run())
    emit(fetched, as_json, f"result of task {task_id} verified ({fetched['result_hash']}) → "
         f"{fetched['out']}")


@task.command()
@click.argument("task_id", type=int)
@password_option
@json_option
@pass_app
def cancel(app: AppContext, task_id: int, password_file: Path | None, as_json: bool) -> None:
    """Cancel your task before anyone claimed it (the escrow returns to you)."""

    async def run() -> dict[str, Any]:
        async with _node(app, password_file) as node:
            answer: dict[str, Any] = await node.command("task.cancel", task_id=task_id)
            return answer

    emit(asyncio.run(run()), as_json, f"task {task_id} cancelled; escrow refunded")


@task.command()
@click.argument("task_id", type=int)
@click.option("--force", is_flag=True, help="Skip the hardware and policy check.")
@password_option
@json_option
@pass_app
def claim(app: AppContext, task_id: int, force: bool, password_file: Path | None,
          as_json: bool) -> None:
    """Take a listed task by hand and run it to the end (the hardware check applies)."""

    async def run() -> dict[str, Any]:
        async with _node(app, password_file) as node:
            answer: dict[str, Any] = await node.command("task.claim", task_id=task_id, force=force)
            return answer

    record = asyncio.run(run())
    emit(record, as_json, f"task {task_id}: {record.get('stage')}"
         + (f" ({safe_text(record['failure_reason'], limit=None)})"
            if record.get("failure_reason") else ""))
    if record.get("stage") in ("failed", "rejected", "released"):
        raise SystemExit(1)
