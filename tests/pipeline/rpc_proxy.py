"""A JSON-RPC proxy between one node and anvil that holds one chosen transaction, so a test can
kill the node at exactly that point: before the transaction reaches the chain (the node signed
and recorded it) or after it is mined but before the node hears back."""

from __future__ import annotations

import asyncio
import json

from aiohttp import ClientSession, ClientTimeout, web


class HoldingRpcProxy:
    """Forwards every call to `upstream`; the first `eth_sendRawTransaction` whose raw bytes
    contain `selector` is held (its `hold` side) until `release()`. Records every raw
    transaction carrying `selector`, so a test can count what was broadcast."""

    def __init__(self, upstream: str, selector: bytes, hold: str) -> None:
        assert hold in ("request", "response"), hold
        self.upstream = upstream
        self.selector = selector
        self.hold = hold
        self.held = asyncio.Event()
        self.raw_txs: list[bytes] = []
        self._released = asyncio.Event()
        self._session: ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Listen on 127.0.0.1 (a free port); returns the proxy's URL."""
        self._session = ClientSession(timeout=ClientTimeout(total=30))
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    def release(self) -> None:
        """Pass everything through from now on (a held call is answered with an error)."""
        self._released.set()

    async def close(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        selected = self._selected(body)
        self.raw_txs.extend(selected)
        hold_this = bool(selected) and not self.held.is_set() and not self._released.is_set()
        if hold_this and self.hold == "request":
            return await self._hold()
        assert self._session is not None
        async with self._session.post(self.upstream, data=body,
                                      headers={"Content-Type": "application/json"}) as reply:
            payload, status = await reply.read(), reply.status
        if hold_this:
            return await self._hold()
        return web.Response(body=payload, status=status, content_type="application/json")

    async def _hold(self) -> web.Response:
        self.held.set()
        await self._released.wait()
        return web.Response(status=503, text="held by the test")

    def _selected(self, body: bytes) -> list[bytes]:
        try:
            document = json.loads(body)
        except ValueError:
            return []
        calls = document if isinstance(document, list) else [document]
        raws = []
        for call in calls:
            if isinstance(call, dict) and call.get("method") == "eth_sendRawTransaction":
                raw = bytes.fromhex(str(call["params"][0]).removeprefix("0x"))
                if self.selector in raw:
                    raws.append(raw)
        return raws
