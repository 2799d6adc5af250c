"""`oarn wallet create|import` (real CLI subprocesses) go through the home's node: with a daemon
running, its wallet service writes the vault and unlocks it at once, so the daemon's status shows
the address without a restart; with no daemon, an embedded wallet-only runtime holds the home
lock meanwhile (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

from wallet_helpers import ABANDON_MNEMONIC, FAST_KDF_ARGS, PASSPHRASE, write_secret

from tests.conftest import run_oarn

ABANDON_ADDRESS = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
KEY_ADDRESS = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"


def _start_daemon(home: Path) -> int:
    init = run_oarn(home, "init", "--profile", "local")
    assert init.returncode == 0, init.stderr
    started = run_oarn(home, "start", "--json", timeout=120)
    assert started.returncode == 0, started.stderr
    return int(json.loads(started.stdout)["pid"])


def _status(home: Path) -> dict[str, object]:
    result = run_oarn(home, "status", "--json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def _assert_no_secret(home: Path, *secrets: str) -> None:
    for log in (home / "logs").glob("*"):
        text = log.read_text(encoding="utf-8", errors="replace").lower()
        for secret in secrets:
            assert secret.lower().removeprefix("0x") not in text, log


def test_create_through_the_running_daemon(home: Path, tmp_path: Path) -> None:
    pid = _start_daemon(home)
    password_file = write_secret(tmp_path / "pass.txt", PASSPHRASE)
    phrase_file = tmp_path / "phrase.txt"
    try:
        assert _status(home)["wallet"]["state"] == "missing"  # type: ignore[index]
        created = run_oarn(home, "wallet", "create", "--json", "--mnemonic-file",
                           str(phrase_file), "--password-file", str(password_file), timeout=120)
        assert created.returncode == 0, created.stderr
        result = json.loads(created.stdout)
        status = _status(home)
        assert status["pid"] == pid  # the same daemon, not restarted
        wallet = status["wallet"]
        assert wallet["state"] == "unlocked", wallet  # type: ignore[index]
        assert wallet["address"] == result["address"]  # type: ignore[index]
        mnemonic = phrase_file.read_text().strip()
        assert len(mnemonic.split()) == 24 and mnemonic not in created.stdout
        again = run_oarn(home, "wallet", "create", "--password-file", str(password_file))
        assert again.returncode != 0
        lines = again.stderr.strip().splitlines()
        assert len(lines) == 1 and "refusing to overwrite" in lines[0], again.stderr
        _assert_no_secret(home, mnemonic, PASSPHRASE)
    finally:
        run_oarn(home, "stop", "--json")


def test_import_through_the_running_daemon(home: Path, tmp_path: Path) -> None:
    _start_daemon(home)
    password_file = write_secret(tmp_path / "pass.txt", PASSPHRASE)
    mnemonic_file = write_secret(tmp_path / "words.txt", ABANDON_MNEMONIC)
    try:
        imported = run_oarn(home, "wallet", "import", "--json", "--mnemonic-file",
                            str(mnemonic_file), "--password-file", str(password_file),
                            timeout=120)
        assert imported.returncode == 0, imported.stderr
        assert json.loads(imported.stdout)["address"] == ABANDON_ADDRESS
        wallet = _status(home)["wallet"]
        assert wallet["state"] == "unlocked"  # type: ignore[index]
        assert wallet["address"] == ABANDON_ADDRESS  # type: ignore[index]
        refused = run_oarn(home, "wallet", "import", "--mnemonic-file", str(mnemonic_file),
                           "--password-file", str(password_file), *FAST_KDF_ARGS)
        assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
        _assert_no_secret(home, ABANDON_MNEMONIC, PASSPHRASE)
    finally:
        run_oarn(home, "stop", "--json")


def test_kdf_options_are_refused_by_a_running_daemon(home: Path, tmp_path: Path) -> None:
    _start_daemon(home)
    password_file = write_secret(tmp_path / "pass.txt", PASSPHRASE)
    key_file = write_secret(tmp_path / "key.txt", KEY)
    try:
        refused = run_oarn(home, "wallet", "import", "--private-key-file", str(key_file),
                           "--password-file", str(password_file), *FAST_KDF_ARGS)
        assert refused.returncode != 0
        assert "--kdf-* options do not apply while the home's daemon runs" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        assert _status(home)["wallet"]["state"] == "missing"  # type: ignore[index]
    finally:
        run_oarn(home, "stop", "--json")


def test_embedded_import_holds_the_home_lock(home: Path, tmp_path: Path) -> None:
    """No daemon: the embedded wallet runtime writes the vault (fast KDF honoured)."""
    home.mkdir()
    password_file = write_secret(tmp_path / "pass.txt", PASSPHRASE)
    key_file = write_secret(tmp_path / "key.txt", KEY)
    imported = run_oarn(home, "wallet", "import", "--json", "--private-key-file", str(key_file),
                        "--password-file", str(password_file), *FAST_KDF_ARGS)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["address"] == KEY_ADDRESS
    assert (home / "run" / "node.pid").exists() is False  # the lock was released
