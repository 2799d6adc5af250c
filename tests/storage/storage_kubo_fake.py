"""A Kubo RPC server on 127.0.0.1 for tests: the documented endpoints and response shapes.

Kubo itself cannot be installed here, so the test double sits at the HTTP boundary. It follows
https://docs.ipfs.tech/reference/kubo/rpc/: every endpoint is POST (other methods get 405),
arguments are query parameters (`arg=`), files are multipart fields, errors are HTTP 500 with
`{"Message", "Code", "Type": "error"}`, and `add` / `repo/gc` stream newline-delimited JSON.
Storage behind it is the project's own importer and blockstore.
"""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from oarn_tui.storage.blockstore import BlockNotFound, Blockstore
from oarn_tui.storage.cid import CID, DAG_PB, RAW, CIDError
from oarn_tui.storage.content import LocalContentStore
from oarn_tui.storage.unixfs import ImportOptions, import_bytes, read_file

PIN = "kubo-recursive"


def _error(message: str) -> web.Response:
    return web.json_response({"Message": message, "Code": 0, "Type": "error"}, status=500)


class FakeKubo:
    def __init__(self, root: Path, *, ignore_import_params: bool = False) -> None:
        self.blocks = Blockstore(root, durable=False)
        self.local = LocalContentStore(self.blocks)
        self.ignore_import_params = ignore_import_params
        self.calls: list[str] = []
        self.app = web.Application()
        for path, handler in {
            "add": self.add, "cat": self.cat, "block/get": self.block_get,
            "block/put": self.block_put, "block/stat": self.block_stat, "pin/add": self.pin_add,
            "pin/rm": self.pin_rm, "repo/gc": self.repo_gc, "repo/stat": self.repo_stat,
            "id": self.identity,
        }.items():
            self.app.router.add_route("*", f"/api/v0/{path}", self._post_only(path, handler))
        self.runner: web.AppRunner | None = None
        self.url = ""

    def _post_only(self, name: str, handler):  # type: ignore[no-untyped-def]
        async def wrapped(request: web.Request) -> web.StreamResponse:
            if request.method != "POST":
                return web.Response(status=405, text="405 - Method Not Allowed")
            self.calls.append(name)
            return await handler(request)
        return wrapped

    async def start(self) -> str:
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        self.blocks.close()

    @staticmethod
    def _arg(request: web.Request) -> CID | None:
        try:
            return CID.parse(request.query.get("arg", ""))
        except CIDError:
            return None

    async def _file_field(self, request: web.Request) -> tuple[str, bytes]:
        reader = await request.multipart()
        part = await reader.next()
        if part is None:
            raise web.HTTPBadRequest(text="file argument 'data' is required")
        return part.filename or "", bytes(await part.read())  # type: ignore[union-attr]

    async def add(self, request: web.Request) -> web.StreamResponse:
        name, data = await self._file_field(request)
        query = request.query
        options = ImportOptions.v0()
        if not self.ignore_import_params:
            chunker = query.get("chunker", "size-262144")
            if not chunker.startswith("size-"):
                return _error(f"unsupported chunker {chunker}")
            version = int(query.get("cid-version", "0"))
            raw_leaves = query.get("raw-leaves", "true" if version == 1 else "false") == "true"
            options = ImportOptions(version, raw_leaves, int(chunker[5:]))
        result = import_bytes(data, options, self.blocks.put)
        if query.get("pin", "true") == "true":
            self.blocks.pin(result.cid, PIN)
        line = {"Name": name, "Hash": str(result.cid), "Size": str(result.dag_size)}
        return web.Response(text=json.dumps(line) + "\n", content_type="application/json")

    async def cat(self, request: web.Request) -> web.StreamResponse:
        cid = self._arg(request)
        if cid is None:
            return _error("invalid path: argument required")
        try:
            return web.Response(body=read_file(cid, self.blocks.get))
        except BlockNotFound:
            return _error(f"block was not found locally (offline): ipld: could not find {cid}")

    async def block_get(self, request: web.Request) -> web.StreamResponse:
        cid = self._arg(request)
        data = self.blocks.get_or_none(cid) if cid else None
        if data is None:
            return _error(f"ipld: could not find {cid}")
        return web.Response(body=data)

    async def block_put(self, request: web.Request) -> web.StreamResponse:
        _name, data = await self._file_field(request)
        codec = {"raw": RAW, "dag-pb": DAG_PB}.get(request.query.get("cid-codec", "raw"))
        if codec is None or request.query.get("mhtype", "sha2-256") != "sha2-256":
            return _error("unsupported codec or hash")
        cid = self.blocks.put_block(data, codec)
        return web.json_response({"Key": str(cid), "Size": len(data)})

    async def block_stat(self, request: web.Request) -> web.StreamResponse:
        cid = self._arg(request)
        data = self.blocks.get_or_none(cid) if cid else None
        if data is None:
            return _error("block was not found locally (offline): ipld: could not find")
        return web.json_response({"Key": str(cid), "Size": len(data)})

    async def pin_add(self, request: web.Request) -> web.StreamResponse:
        cid = self._arg(request)
        if cid is None or not self.blocks.dag_complete(cid):
            return _error("pin: block was not found locally (offline)")
        self.blocks.pin(cid, PIN)
        return web.json_response({"Pins": [str(cid)]})

    async def pin_rm(self, request: web.Request) -> web.StreamResponse:
        cid = self._arg(request)
        if cid is None or not self.blocks.unpin(cid, PIN):
            return _error("not pinned or pinned indirectly")
        return web.json_response({"Pins": [str(cid)]})

    async def repo_gc(self, request: web.Request) -> web.StreamResponse:
        before = set(self.blocks.keys())
        self.blocks.collect_garbage()
        removed = before - set(self.blocks.keys())
        lines = [json.dumps({"Key": {"/": key}}) for key in sorted(removed)]
        return web.Response(text="".join(line + "\n" for line in lines),
                            content_type="application/json")

    async def repo_stat(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"RepoSize": self.blocks.size(), "StorageMax": 10_000_000_000,
                                  "NumObjects": self.blocks.count(),
                                  "RepoPath": str(self.blocks.root), "Version": "fs-repo@16"})

    async def identity(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({
            "ID": "12D3KooWFakeKuboNodeForTests1111111111111111111111",
            "PublicKey": "CAESIFakeKey", "Addresses": ["/ip4/127.0.0.1/tcp/4001"],
            "AgentVersion": "kubo/0.32.1/", "Protocols": ["/ipfs/bitswap/1.2.0"]})
