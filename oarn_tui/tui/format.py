"""Pure text formatting for the dashboard (amounts, durations, bars, sparklines, literal cells),
kept free of widgets so it is cheap and easy to test.

Text that came from outside (peers, the chain, the ledger, logs) reaches widgets only as
`rich.text.Text` built from `oarn_tui.textsafe.safe_text` (`literal`, `cell`), never as a `str`
that Textual would parse as markup."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from rich.text import Text

from oarn_tui.amounts import format_amount
from oarn_tui.textsafe import DEFAULT_LIMIT, safe_text

SPARK_CHARS = "▁▂▃▄▅▆▇█"
SHORT_TOKEN_DECIMALS = 4


def short_id(value: str, head: int = 6, tail: int = 4) -> str:
    """`0x12ab34…cdef` for long ids; short ones unchanged (made safe either way)."""
    value = safe_text(value, limit=None)
    return value if len(value) <= head + tail + 1 else f"{value[:head]}…{value[-tail:]}"


def literal(value: object, style: str = "", *, multiline: bool = False,
            limit: int | None = DEFAULT_LIMIT) -> Text:
    """Untrusted `value` as `Text`: shown literally, never parsed as markup, controls escaped."""
    return Text(safe_text(value, multiline=multiline, limit=limit), style=style)


def cell(value: object, style: str = "") -> Text:
    """A `DataTable` cell: a `str` cell would be parsed as markup (`[/x]` raises), so untrusted
    values go in as `Text` — one line, not wrapped, exactly as a plain `str` cell renders."""
    return Text(safe_text(value), style=style, no_wrap=True, end="")


def amount(wei: int, token: str = "") -> str:
    """A token amount, at most 4 decimals (rounded down), with its symbol."""
    text = format_amount(wei)
    whole, _, frac = text.partition(".")
    if len(frac) > SHORT_TOKEN_DECIMALS:
        text = f"{whole}.{frac[:SHORT_TOKEN_DECIMALS]}"
    return f"{text} {token}".strip()


def duration(seconds: float) -> str:
    """`42s`, `3m05s`, `2h07m`, `3d04h`."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def uptime(seconds: float) -> str:
    """Uptime at minute resolution (`0m`, `1h02m`) so a dashboard does not churn every second."""
    minutes = max(0, int(seconds)) // 60
    return f"{minutes}m" if minutes < 60 else duration(minutes * 60)


def clock_time(ts: float) -> str:
    """Local wall-clock time of an epoch timestamp, `HH:MM:SS`."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def bar(fraction: float | None, width: int) -> str:
    """A horizontal bar `█████░░░░░` of `width` cells; `N/A` filler when unknown."""
    if width <= 0:
        return ""
    if fraction is None:
        return "·" * width
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def sparkline(values: Sequence[float], width: int, maximum: float | None = None) -> str:
    """The last `width` values as block characters, scaled to `maximum` (or their peak)."""
    if width <= 0:
        return ""
    recent = list(values)[-width:]
    if not recent:
        return " " * width
    peak = maximum if maximum else max(max(recent), 1e-9)
    top = len(SPARK_CHARS) - 1
    chars = [SPARK_CHARS[max(0, min(top, round(v / peak * top)))] for v in recent]
    return "".join(chars).rjust(width)


def percent(value: float | None) -> str:
    return "N/A" if value is None else f"{value:.0f}%"


def megabytes(value: float | None) -> str:
    """`812M` below a GiB, `7.8G` above."""
    if value is None:
        return "N/A"
    return f"{value / 1024:.1f}G" if value >= 1024 else f"{value:.0f}M"


def latency(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def capabilities(caps: Mapping[str, object]) -> str:
    """A one-line summary of a peer's advertised capabilities."""
    parts: list[str] = []
    frameworks = caps.get("frameworks")
    if isinstance(frameworks, list | tuple):
        parts.append(",".join(str(f) for f in frameworks))
    gpus = caps.get("gpus")
    if isinstance(gpus, int) and gpus:
        parts.append(f"{gpus} GPU")
    vram = caps.get("vram_mb")
    if isinstance(vram, int | float) and vram:
        parts.append(megabytes(float(vram)))
    for name, value in caps.items():
        if name not in ("frameworks", "gpus", "vram_mb") and isinstance(value, str | int | float):
            parts.append(f"{name}={value}")
    return " ".join(parts) or "—"
