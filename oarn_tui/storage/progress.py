"""Pull progress with rate and ETA: what `model.progress` events carry.

`ProgressMeter` turns (bytes done, bytes total) updates into at most one report per
`interval_s` (plus the first and the last), each with `bytes_done`, `bytes_total`, `percent`,
`rate_bytes_s` (over the last few seconds, so a resumed pull's already-held bytes do not count
as speed) and `eta_s` (None until a rate is known).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

RATE_WINDOW_S = 5.0


class ProgressMeter:
    """Throttled progress reports for one pull (see the module docstring)."""

    def __init__(self, report: Callable[[dict[str, Any]], None], interval_s: float = 0.25,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.report = report
        self.interval_s = interval_s
        self.clock = clock
        self._samples: deque[tuple[float, int]] = deque()
        self._last_report = -1e9
        self._last_done = -1
        self.started = clock()

    def update(self, done: int, total: int) -> None:
        now = self.clock()
        if not self._samples:
            self._samples.append((now, done))  # bytes held at the start are not speed
        if done == self._last_done and done != total:
            return
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_S:
            self._samples.popleft()
        if done < total and now - self._last_report < self.interval_s:
            return
        self._last_report, self._last_done = now, done
        self.report(self.snapshot(done, total, now))

    def snapshot(self, done: int, total: int, now: float | None = None) -> dict[str, Any]:
        now = self.clock() if now is None else now
        first_time, first_done = self._samples[0] if self._samples else (now, done)
        elapsed = now - first_time
        rate = (done - first_done) / elapsed if elapsed > 0 and done > first_done else 0.0
        eta = (total - done) / rate if rate > 0 else (0.0 if done >= total else None)
        return {"bytes_done": done, "bytes_total": total,
                "percent": round(100.0 * done / total, 1) if total else 100.0,
                "rate_bytes_s": round(rate, 1), "eta_s": None if eta is None else round(eta, 1),
                "elapsed_s": round(now - self.started, 2)}


def describe(data: dict[str, Any]) -> str:
    """One line: '12.0 / 100.0 MiB (12.0 %) at 45.1 MiB/s, ETA 2 s'."""
    mib = 1024 * 1024
    text = (f"{data.get('bytes_done', 0) / mib:.1f} / {data.get('bytes_total', 0) / mib:.1f} MiB"
            f" ({data.get('percent', 0):.1f} %)")
    rate = data.get("rate_bytes_s") or 0
    if rate:
        text += f" at {rate / mib:.1f} MiB/s"
    eta = data.get("eta_s")
    if eta is not None and data.get("bytes_done", 0) < data.get("bytes_total", 0):
        text += f", ETA {eta:.0f} s"
    return text
