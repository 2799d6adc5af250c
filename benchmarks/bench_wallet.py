"""Wallet unlock cost at the default Argon2id parameters, against the bare Argon2id call.

Run: .venv/bin/python benchmarks/bench_wallet.py [--repeats N]
Prints one JSON document. The baseline (`argon2_raw_s`) is the argon2-cffi hash call alone with
the same parameters, measured in the same run; `vault_unlock_s` adds reading, checksum and
AES-GCM; `open_wallet_s` adds building the signer, the libp2p key pair and the binding signature.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oarn_tui.wallet import operations
from oarn_tui.wallet.unlock import open_wallet
from oarn_tui.wallet.vault import KdfParams, derive_key, read_vault, unlock_vault

PASSPHRASE = "benchmark passphrase"
KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def interleaved(funcs: dict[str, Callable[[], object]], repeats: int
                ) -> dict[str, dict[str, float]]:
    """Time each function once per round, round after round, so load drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(repeats):
        for name, func in funcs.items():
            start = time.perf_counter()
            func()
            samples[name].append(time.perf_counter() - start)
    return {name: {"median_s": round(statistics.median(values), 4),
                   "min_s": round(min(values), 4), "max_s": round(max(values), 4)}
            for name, values in samples.items()}


def measure(params: KdfParams, repeats: int, workdir: Path) -> dict[str, object]:
    path = workdir / f"wallet-{params.time_cost}-{params.memory_kib}-{params.parallelism}.vault"
    operations.import_private_key(path, PASSPHRASE, KEY, params)
    salt = read_vault(path).salt
    open_wallet(path, PASSPHRASE, "password-file").close()  # warm imports (libp2p, eth-account)
    timings = interleaved({
        "raw": lambda: derive_key(PASSPHRASE, salt, params),
        "unlock": lambda: unlock_vault(path, PASSPHRASE).wipe(),
        "full": lambda: open_wallet(path, PASSPHRASE, "password-file").close(),
    }, repeats)
    raw, unlock, full = timings["raw"], timings["unlock"], timings["full"]
    return {
        "params": params.as_dict(),
        "argon2_raw_s": raw,
        "vault_unlock_s": unlock,
        "open_wallet_s": full,
        "vault_overhead_min_s": round(unlock["min_s"] - raw["min_s"], 4),
        "unlock_vs_raw_ratio_min": round(unlock["min_s"] / raw["min_s"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            "benchmark": "wallet_unlock",
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "repeats": args.repeats,
            "default": measure(KdfParams(), args.repeats, Path(tmp)),
            "minimum": measure(KdfParams.minimum(), args.repeats, Path(tmp)),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
