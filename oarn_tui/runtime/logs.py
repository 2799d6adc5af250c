"""Logging: JSON lines to `<home>/logs/node.log` with rotation, and redaction of secret shapes.

Every record passes through `redact()` before it is written anywhere (file, event stream,
dashboard), so a private key, mnemonic or passphrase that slips into a message never persists.
"""

from __future__ import annotations

import functools
import json
import logging
import logging.handlers
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

LOGGER_NAME = "oarn"
# Modules log under "oarn.*" or their import path "oarn_tui.*": both go to the node's log.
LOGGER_NAMES = ("oarn", "oarn_tui")
log = logging.getLogger(LOGGER_NAME)

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(0x)?[0-9a-fA-F]{64}\b"), "[redacted-key]"),
    (re.compile(r"(?i)((?:pass(?:word|phrase)|secret|private[_ ]?key|mnemonic|api[_-]?key|token)"
                r"\s*[=:]\s*)\S+"), r"\1[redacted]"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
     "[redacted-pem]"),
)


_WORD_RUN = re.compile(r"\b[a-z]{3,8}(?:\s+[a-z]{3,8}){11,}\b")


@functools.cache
def _bip39_words() -> frozenset[str]:
    """The BIP-39 English wordlist (shipped with eth-account), read only when needed."""
    import importlib.util

    spec = importlib.util.find_spec("eth_account")
    if spec is None or spec.origin is None:
        return frozenset()
    path = Path(spec.origin).parent / "hdaccount" / "wordlist" / "english.txt"
    return frozenset(path.read_text().split()) if path.exists() else frozenset()


def _redact_mnemonics(text: str) -> str:
    words = _bip39_words()

    def replace(match: re.Match[str]) -> str:
        tokens = match.group(0).split()
        run = 0
        for token in tokens:
            run = run + 1 if token in words else 0
            if run >= 12:
                return "[redacted-mnemonic]"
        return match.group(0)

    return _WORD_RUN.sub(replace, text)


def redact(text: str) -> str:
    """Replace anything shaped like a secret: 64-hex keys, BIP-39 word runs, `password=...`.
    Transaction hashes are 64 hex too: they are kept only in explicit `tx_hash`-like fields."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return _redact_mnemonics(text) if len(text) >= 47 else text


SAFE_HEX_FIELDS = {"tx_hash", "result_hash", "block_hash", "task_id", "sha256", "commitment"}


def _clean(key: str, value: Any) -> Any:
    if isinstance(value, str):
        return value if key in SAFE_HEX_FIELDS and len(value) <= 66 else redact(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and any `extra={...}` fields."""

    RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message",
                                                                               "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in self.RESERVED and not key.startswith("_"):
                entry[key] = _clean(key, value)
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = redact(f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}")
        return json.dumps(entry, default=str)


class RecentLogs(logging.Handler):
    """Keeps the last records in memory (for `logs` over the control API and the dashboard)
    and forwards each to a callback (the event bus)."""

    def __init__(self, capacity: int = 1000,
                 on_record: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__()
        self.records: deque[dict[str, Any]] = deque(maxlen=capacity)
        self.on_record = on_record
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = json.loads(self.format(record))
        except Exception:  # a broken record must never break the node
            return
        self.records.append(entry)
        if self.on_record is not None:
            self.on_record(entry)


def setup_logging(log_path: Path, *, level: str = "info", max_mb: int = 10, backups: int = 5,
                  recent: RecentLogs | None = None) -> list[logging.Handler]:
    """Attach the rotating JSON file handler (and `recent`) to the `oarn` logger."""
    log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    file_handler = logging.handlers.RotatingFileHandler(
        log_path, maxBytes=max_mb * 1024 * 1024, backupCount=backups, encoding="utf-8")
    file_handler.setFormatter(JsonFormatter())
    handlers: list[logging.Handler] = [file_handler]
    if recent is not None:
        handlers.append(recent)
    for name in LOGGER_NAMES:
        logger = logging.getLogger(name)
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(level.upper())
        logger.propagate = False
    return handlers


def set_level(level: str) -> None:
    for name in LOGGER_NAMES:
        logging.getLogger(name).setLevel(level.upper())


def teardown_logging(handlers: list[logging.Handler]) -> None:
    """Detach the node's handlers and give the loggers back to the host process."""
    for name in LOGGER_NAMES:
        logger = logging.getLogger(name)
        for handler in handlers:
            logger.removeHandler(handler)
        if not logger.handlers:
            logger.propagate = True
            logger.setLevel(logging.NOTSET)
    for handler in handlers:
        handler.close()


def tail(log_path: Path, lines: int = 20) -> list[str]:
    """Last `lines` lines of the log file (for `oarn logs` when no node runs)."""
    if not log_path.exists():
        return []
    with log_path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        block, data = 8192, b""
        while size > 0 and data.count(b"\n") <= lines:
            step = min(block, size)
            size -= step
            handle.seek(size)
            data = handle.read(step) + data
    return [line for line in data.decode("utf-8", "replace").splitlines() if line][-lines:]


def follow(log_path: Path, poll_s: float = 0.25, stop: Callable[[], bool] = lambda: False,
           max_polls: int | None = None) -> Iterator[str]:
    """Yield new lines appended to the log, surviving rotation (used by `oarn logs -f`)."""
    handle = log_path.open("r", encoding="utf-8", errors="replace")
    handle.seek(0, 2)
    inode = log_path.stat().st_ino
    polls = 0
    try:
        while not stop() and (max_polls is None or polls < max_polls):
            line = handle.readline()
            if line:
                yield line.rstrip("\n")
                continue
            polls += 1
            time.sleep(poll_s)
            try:
                if log_path.stat().st_ino != inode:
                    handle.close()
                    handle = log_path.open("r", encoding="utf-8", errors="replace")
                    inode = log_path.stat().st_ino
            except FileNotFoundError:
                continue
    finally:
        handle.close()
