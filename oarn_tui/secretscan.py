"""Spot secrets that must never sit in config.toml (or an `OARN_*` override).

`looks_secret_name(dotted)` is true for a key whose name says it holds a secret (token, api_key,
password, bearer, ...); `secret_kind(value)` names what a value looks like ("a private key", "a
recovery phrase", "an API key", "credentials in a URL", ...) or returns None. Both are cheap
regular expressions (config loads on every command) and never return or log the value itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

SECRET_WORDS = (r"private[_-]?key|privkey|secret|mnemonic|seed[_-]?phrase|passphrase|password|"
                r"passwd|api[_-]?key|apikey|token|bearer|credentials?|auth[_-]?key|access[_-]?key")
SECRET_NAME = re.compile(rf"({SECRET_WORDS})", re.IGNORECASE)
BARE_SECRET_NAMES = frozenset({"key", "seed", "pk", "private", "auth", "pwd", "pass"})

HEX_KEY = re.compile(r"(?<![0-9a-fA-F])(?:0[xX])?[0-9a-fA-F]{64}(?![0-9a-fA-F])")
MNEMONIC_WORD = re.compile(r"^[A-Za-z]{3,8}$")
MNEMONIC_SPLIT = re.compile(r"[\s,;]+")
API_KEY = re.compile(
    r"(?<![A-Za-z0-9])("
    r"sk-[A-Za-z0-9_\-]{16,}|sk_(?:live|test)_[A-Za-z0-9]{16,}|rk_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_\-]{20,}"
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{35}|hf_[A-Za-z0-9]{30,}"
    r"|npm_[A-Za-z0-9]{36}|pypi-[A-Za-z0-9_\-]{50,})")
BEARER = re.compile(r"\bbearer\s+[A-Za-z0-9._~+/\-]{12,}=*", re.IGNORECASE)
NAMED_VALUE = re.compile(rf"({SECRET_WORDS}|\bkey|\bauth|\bpwd)\s*[:=]\s*[\"']?[^\s\"'&]{{8,}}",
                         re.IGNORECASE)


def looks_secret_name(dotted: str) -> bool:
    """A key (any part of its dotted name) named like a secret: `token`, `api_key`, ..."""
    parts = dotted.lower().split(".")
    return any(SECRET_NAME.search(part) or part in BARE_SECRET_NAMES for part in parts)


def _is_mnemonic(text: str) -> bool:
    words = [w for w in MNEMONIC_SPLIT.split(text.strip()) if w]
    return 12 <= len(words) <= 24 and all(MNEMONIC_WORD.match(w) for w in words)


def _url_secret(text: str) -> str | None:
    candidates: list[str] = re.findall(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>]+", text)
    for candidate in candidates:
        try:
            parts = urlsplit(candidate)
        except ValueError:
            continue
        if parts.password is not None or (parts.username and "@" in parts.netloc):
            return "credentials in a URL (user:password@)"
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if value and (looks_secret_name(name) or name.lower() in ("key", "sig")):
                return "a secret in a URL query (?" + name + "=...)"
    return None


def secret_kind(value: Any) -> str | None:
    """What secret `value` (a string, or a list/table of them) looks like; None if none."""
    if isinstance(value, Mapping):
        for name, item in value.items():
            if looks_secret_name(str(name)):
                return f"a secret under {name!r}"
            if found := secret_kind(item):
                return found
        return None
    if isinstance(value, list | tuple):
        for item in value:
            if found := secret_kind(item):
                return found
        return None
    if not isinstance(value, str):
        return None
    if HEX_KEY.search(value):
        return "a private key (64 hex digits)"
    if _is_mnemonic(value):
        return "a recovery phrase"
    if API_KEY.search(value):
        return "an API key"
    if BEARER.search(value):
        return "a bearer token"
    if found := _url_secret(value):
        return found
    if NAMED_VALUE.search(value):
        return "a token or password"
    return None
