"""Hardware detection: NVIDIA GPUs (NVML), CPU/RAM/disk (psutil), runtimes, telemetry.

No UI imports here: the dashboard, the CLI and the acceptance policy all read these snapshots.
"""
