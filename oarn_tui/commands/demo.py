"""`oarn demo`: see tasks flow and COMP arrive on a local devnet within seconds."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import click

from oarn_tui.cli_support import AppContext, UserError, emit, json_option, pass_app


@click.command()
@click.option("--headless", is_flag=True, help="No dashboard: run, print a summary, clean up.")
@click.option("--tasks", default=10, show_default=True, type=click.IntRange(1, 10_000),
              help="Sample tasks the requester submits.")
@click.option("--workers", default=3, show_default=True, type=click.IntRange(1, 8),
              help="Worker daemons (separate processes).")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0, 60),
              help="Seconds between submissions (dashboard mode).")
@click.option("--keep", is_flag=True, help="Keep <home>/demo afterwards (for inspection).")
@json_option
@pass_app
def demo(app: AppContext, headless: bool, tasks: int, workers: int, interval: float,
         keep: bool, as_json: bool) -> None:
    """Start a devnet, worker nodes and a requester submitting sample tasks.

    Everything lives in <home>/demo and is stopped and removed at the end.
    """
    from oarn_tui.chain.anvil import AnvilError
    from oarn_tui.chain.devnet import DevnetError
    from oarn_tui.commands import demo_run
    from oarn_tui.compute import sandbox

    executors = sandbox.status()
    if not executors.ok:  # every worker would refuse every task: say so now, not at a timeout
        raise UserError(f"the demo's workers cannot run tasks: {executors.refusal()}")
    root = app.home / "demo"
    say = (lambda _m: None) if as_json else (lambda m: click.echo(f"demo: {m}", err=True))
    try:
        if headless:
            summary = demo_run.run_headless(root, tasks, workers=workers, keep=keep, say=say)
            emit(summary, as_json, demo_run.dump(summary))
            if summary["tasks_finalized"] < summary["tasks_submitted"]:
                raise SystemExit(1)
            return
        _with_dashboard(root, tasks, workers, interval, keep, say)
    except (AnvilError, DevnetError) as exc:
        raise UserError(str(exc)) from None


def _with_dashboard(root: Path, tasks: int, workers: int, interval: float, keep: bool,
                    say: Callable[[str], None]) -> None:
    """Dashboard attached to worker 1 while the requester submits from a background thread
    (its progress shows on the dashboard; the terminal belongs to the dashboard)."""
    import asyncio

    from oarn_tui.commands import demo_run
    from oarn_tui.tui.app import run_dashboard

    cluster = demo_run.DemoCluster(root, workers)
    try:
        demo_run.prepare(cluster, say)
        demo_run.start_workers(cluster, say)
        requester = threading.Thread(
            target=lambda: asyncio.run(demo_run.run_requester(
                cluster, tasks, say=lambda _message: None, interval_s=interval)),
            name="demo-requester", daemon=True)
        requester.start()
        run_dashboard(cluster.worker_home(1), None)
    finally:
        demo_run.teardown(cluster, keep=keep)
