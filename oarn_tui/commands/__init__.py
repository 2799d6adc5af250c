"""Click commands, one module per capability; `oarn_tui.cli` registers them lazily."""
