"""OARN node client: terminal dashboard, headless daemon and CLI for the OARN network."""

from __future__ import annotations

__version__ = "0.1.0"
