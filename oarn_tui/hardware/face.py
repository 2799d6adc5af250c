"""`HardwareFace`: what the compute policy and the runtime's wiring read of the hardware service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from oarn_tui.hardware.telemetry import TelemetrySample


class HardwareFace(Protocol):
    """The latest telemetry sample (None before the first one)."""

    @property
    def latest(self) -> TelemetrySample | None: ...
