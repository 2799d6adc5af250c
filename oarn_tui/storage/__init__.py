"""Content-addressed storage that agrees with IPFS: CIDs, UnixFS import, blockstore, pins, models.

`cid` and `dagpb` encode the formats, `unixfs` imports and reads files, `blockstore` keeps
verified blocks on disk with pins and GC, `content` and `kubo` offer one `ContentStore` interface
over the built-in store or a Kubo daemon, `fetch` pulls a DAG through any `BlockFetcher` (bitswap),
and `models` is the model store.
"""
