"""Dashboard panes: each renders one part of a `NodeSnapshot`."""
