"""`oarn hardware [--json]`: what this machine offers — CPU, RAM, disk, GPUs, runtimes."""

from __future__ import annotations

from typing import Any

import click

from oarn_tui.cli_support import AppContext, emit, json_option, pass_app


@click.command("hardware")
@json_option
@pass_app
def hardware(app: AppContext, as_json: bool) -> None:
    """Show the capability report that drives task acceptance."""
    from oarn_tui.compute import sandbox
    from oarn_tui.compute.gguf import default_gguf_model
    from oarn_tui.hardware.report import capability_report, render_report

    config = app.config()
    report = capability_report(app.home, config.compute.ollama_url,
                               gguf_model=default_gguf_model())
    report["sandbox"] = sandbox.status().to_dict()  # which executor isolation layers hold
    emit(report, as_json, lambda doc: f"{render_report(doc)}\n{_sandbox_line(doc['sandbox'])}")


def _sandbox_line(status: dict[str, Any]) -> str:
    if status["ok"]:
        return f"Sandbox ok — {', '.join(status['layers'])}"
    return f"Sandbox NOT available — {status['reason']} (network tasks are refused)"
