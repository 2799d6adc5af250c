"""Untrusted text → safe plain text for terminals.

Strings that come from peers or the chain (model names, CIDs, task fields, peer ids and
addresses, failure reasons and log lines that embed them) are shown by the CLI and the dashboard.
`safe_text` is the one function they all pass through: every character that could drive a
terminal or reorder what is shown — C0 controls (bar tab and newline in multi-line text), DEL,
C1 controls (`\\x9b` is CSI on 8-bit terminals), so any ESC/CSI/OSC sequence, bidi overrides and
isolates, line/paragraph separators and lone surrogates (which cannot be encoded for output) —
is replaced by its visible escape (`\\x1b`, `\\u202e`), so the text is shown literally and inert.
Markup is a separate concern: the dashboard wraps the result in `rich.text.Text`, which Textual
never parses as markup.
"""

from __future__ import annotations

import logging
import re

DEFAULT_LIMIT = 256
"""Single-line fields longer than this are cut (with `…`): a name is not a payload."""

_ALWAYS = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 but \t \n, DEL, C1
    "\u061c\u200e\u200f"  # Arabic letter mark, LRM, RLM
    "\u202a-\u202e\u2066-\u2069"  # bidi embeddings, overrides and isolates
    "\u2028\u2029"  # line and paragraph separators
    "\ud800-\udfff"  # lone surrogates (not encodable as UTF-8)
)
_MULTI_LINE = re.compile(f"[{_ALWAYS}]")
_SINGLE_LINE = re.compile(f"[\t\n{_ALWAYS}]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value: object, *, multiline: bool = False, limit: int | None = DEFAULT_LIMIT
              ) -> str:
    """`value` as text a terminal shows literally: unsafe characters become visible escapes.

    Single-line (the default, for fields such as names and ids) also escapes tab and newline so
    a field cannot fake extra lines or columns, and cuts text longer than `limit` characters
    with `…`; `multiline=True` (whole messages) keeps tab and newline. `limit=None` never cuts.
    """
    text = value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    pattern = _MULTI_LINE if multiline else _SINGLE_LINE
    if pattern.search(text) is None:
        return text
    return pattern.sub(_visible, text)


class SafeTextFormatter(logging.Formatter):
    """For log handlers that write to a terminal (`oarn --daemon -v` on stderr): log messages
    embed peers' words, so each formatted record passes through `safe_text` (lines kept)."""

    def format(self, record: logging.LogRecord) -> str:
        return safe_text(super().format(record), multiline=True, limit=None)
