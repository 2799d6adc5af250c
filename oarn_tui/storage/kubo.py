"""`ContentStore` over a Kubo (go-ipfs) daemon's HTTP RPC, for `storage.backend = "kubo"`.

Uses only documented RPC endpoints (all POST): `add` (with the node's import options, so Kubo's
root CID must equal the one we compute; a mismatch is an error), `cat`, `block/get`, `block/put`,
`block/stat`, `pin/add`, `pin/rm`, `repo/gc`, `repo/stat`, `id`. Kubo pins have no reasons, so
the reasons and expiries live in a small JSON file beside the block store: Kubo's pin is added with
the first reason and removed with the last.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from oarn_tui.fsutil import atomic_write_text
from oarn_tui.storage.cid import CID, as_cid
from oarn_tui.storage.content import ContentNotFound, local_root_cid, write_chunks_atomically
from oarn_tui.storage.unixfs import ImportOptions

ADD_PARAMS = {"cid-version": "1", "raw-leaves": "true", "chunker": "size-262144",
              "pin": "false", "progress": "false"}


class KuboError(RuntimeError):
    """Kubo refused a request or could not be reached; the message says which and why."""


class KuboContentStore:
    """Files, blocks and pins through Kubo; see the module docstring."""

    backend = "kubo"

    def __init__(self, api_url: str, pins_file: Path, *,
                 timeout_s: float = 300.0, verify_cids: bool = True) -> None:
        if not api_url:
            raise KuboError("storage.kubo_api_url is empty; set it to the Kubo RPC URL")
        self.api_url = api_url.rstrip("/")
        self.pins_file = Path(pins_file)
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.verify_cids = verify_cids
        self._lock = asyncio.Lock()

    # -- HTTP -------------------------------------------------------------------------------

    async def _post(self, endpoint: str, params: dict[str, str] | None = None,
                    data: aiohttp.FormData | None = None) -> bytes:
        url = f"{self.api_url}/api/v0/{endpoint}"
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session, \
                    session.post(url, params=params or {}, data=data) as response:
                body = await response.read()
                if response.status != 200:
                    raise KuboError(f"Kubo {endpoint} failed ({response.status}): "
                                    f"{_error_message(body)}")
                return body
        except aiohttp.ClientError as exc:
            raise KuboError(f"cannot reach Kubo at {self.api_url}: {exc}") from None
        except TimeoutError:
            raise KuboError(f"Kubo at {self.api_url} did not answer {endpoint} in time") from None

    async def _post_json(self, endpoint: str, params: dict[str, str] | None = None,
                         data: aiohttp.FormData | None = None) -> Any:
        body = await self._post(endpoint, params, data)
        try:
            return json.loads(body)
        except ValueError:
            raise KuboError(f"Kubo {endpoint} returned something that is not JSON") from None

    # -- files ------------------------------------------------------------------------------

    async def add_file(self, source: Path | bytes) -> CID:
        """`add` with the node's import options; files are streamed, not read into memory."""
        form = aiohttp.FormData()
        if isinstance(source, bytes | bytearray):
            form.add_field("file", bytes(source), filename="data",
                           content_type="application/octet-stream")
            body = await self._post("add", ADD_PARAMS, form)
        else:
            with open(source, "rb") as stream:
                form.add_field("file", stream, filename=Path(source).name,
                               content_type="application/octet-stream")
                body = await self._post("add", ADD_PARAMS, form)
        entries = [json.loads(line) for line in body.splitlines() if line.strip()]
        hashes = [entry["Hash"] for entry in entries if "Hash" in entry]
        if not hashes:
            raise KuboError("Kubo add returned no CID")
        cid = CID.parse(hashes[-1])
        if self.verify_cids:
            expected = await asyncio.to_thread(local_root_cid, source, ImportOptions.v1())
            if expected != cid:
                raise KuboError(f"Kubo returned {cid} but these bytes are {expected} with "
                                "CIDv1/raw-leaves/256 KiB; check the daemon's import settings")
        return cid

    async def get_file(self, cid: CID | str, dest: Path | None = None) -> bytes | None:
        root = as_cid(cid)
        try:
            data = await self._post("cat", {"arg": str(root)})
        except KuboError as exc:
            raise ContentNotFound(str(exc)) from None
        if dest is None:
            return data
        await asyncio.to_thread(write_chunks_atomically, dest, [data])
        return None

    async def has(self, cid: CID | str) -> bool:
        try:
            await self._post_json("block/stat", {"arg": str(as_cid(cid)), "offline": "true"})
        except KuboError:
            return False
        return True

    # -- blocks -----------------------------------------------------------------------------

    async def block_get(self, cid: CID | str) -> bytes:
        """One raw block, verified against its CID."""
        cid = as_cid(cid)
        data = await self._post("block/get", {"arg": str(cid)})
        if not cid.verifies(data):
            raise KuboError(f"Kubo returned bytes that do not match {cid}")
        return data

    async def get_block(self, cid: CID) -> bytes:
        """`BlockFetcher` interface: lets `fetch_dag` pull from Kubo into the local store."""
        return await self.block_get(cid)

    async def block_put(self, data: bytes, codec: str = "raw") -> CID:
        form = aiohttp.FormData()
        form.add_field("file", data, filename="block", content_type="application/octet-stream")
        answer = await self._post_json("block/put", {"cid-codec": codec, "mhtype": "sha2-256"},
                                       form)
        return CID.parse(answer["Key"])

    # -- pins -------------------------------------------------------------------------------

    def _read_pins(self) -> dict[str, dict[str, float | None]]:
        try:
            pins: dict[str, dict[str, float | None]] = json.loads(self.pins_file.read_text())
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise KuboError(f"{self.pins_file} is not valid JSON: {exc}") from None
        return pins

    def _write_pins(self, pins: dict[str, dict[str, float | None]]) -> None:
        atomic_write_text(self.pins_file, json.dumps(pins, indent=2, sort_keys=True))

    async def pin(self, cid: CID | str, reason: str, expires_at: float | None = None) -> None:
        key = str(as_cid(cid))
        async with self._lock:
            pins = self._read_pins()
            if not pins.get(key):
                await self._post_json("pin/add", {"arg": key, "recursive": "true"})
            pins.setdefault(key, {})[reason] = expires_at
            self._write_pins(pins)

    async def unpin(self, cid: CID | str, reason: str) -> bool:
        key = str(as_cid(cid))
        async with self._lock:
            pins = self._read_pins()
            reasons = pins.get(key, {})
            if reason not in reasons:
                return False
            del reasons[reason]
            if not reasons:
                await self._post_json("pin/rm", {"arg": key})
                pins.pop(key, None)
            self._write_pins(pins)
            return True

    def pins(self) -> dict[str, dict[str, float | None]]:
        return self._read_pins()

    async def gc(self) -> dict[str, int]:
        """Unpin expired reasons, then run Kubo's `repo/gc`."""
        now = time.time()
        expired = [(cid, reason) for cid, reasons in self._read_pins().items()
                   for reason, expires_at in reasons.items()
                   if expires_at is not None and expires_at <= now]
        for cid, reason in expired:
            await self.unpin(cid, reason)
        body = await self._post("repo/gc")
        removed = sum(1 for line in body.splitlines() if b'"Key"' in line)
        return {"removed_blocks": removed, "expired_pins": len(expired)}

    async def stat(self) -> dict[str, object]:
        repo = await self._post_json("repo/stat")
        identity = await self._post_json("id")
        return {"backend": self.backend, "api_url": self.api_url,
                "peer_id": identity.get("ID"), "agent": identity.get("AgentVersion"),
                "bytes": repo.get("RepoSize"), "max_bytes": repo.get("StorageMax"),
                "blocks": repo.get("NumObjects"), "pins": len(self._read_pins())}

    async def node_id(self) -> dict[str, Any]:
        identity: dict[str, Any] = await self._post_json("id")
        return identity


def _error_message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("Message", body[:200]))
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace")
