"""CIDs agree with the IPFS ecosystem: js-ipfs's importer (run from npm) and published CIDs."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from oarn_tui.storage.cid import CID, DAG_PB, RAW, CIDError, decode_varint, encode_varint
from oarn_tui.storage.dagpb import (
    UNIXFS_FILE,
    PBLink,
    PBNode,
    UnixFSData,
    decode_pbnode,
    decode_unixfs,
    encode_pbnode,
    encode_unixfs,
)
from oarn_tui.storage.unixfs import (
    CHUNK_SIZE,
    MAX_LINKS,
    FileImporter,
    ImportOptions,
    import_bytes,
    import_path,
    read_file,
)

JS_DIR = Path(__file__).parent / "js"
KIB = 1024
MIB = 1024 * KIB

# Sizes that exercise every layout case: empty, one byte, exactly one chunk, one chunk + 1,
# a few chunks, and more than 174 chunks (the balanced layout's second level).
SIZES = {
    "empty": 0,
    "one_byte": 1,
    "one_chunk": CHUNK_SIZE,
    "one_chunk_plus_one": CHUNK_SIZE + 1,
    "three_mib": 3 * MIB + 12_345,
    "two_levels": (MAX_LINKS + 6) * CHUNK_SIZE + 777,
}


def _content(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture(scope="module")
def reference_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cid-files")
    files = {}
    for seed, (label, size) in enumerate(SIZES.items()):
        path = folder / f"{label}.bin"
        path.write_bytes(_content(size, seed))
        files[label] = path
    return files


@pytest.fixture(scope="module")
def js_reference(reference_files: dict[str, Path]) -> dict[str, dict[str, str]]:
    """CIDs computed by npm `ipfs-unixfs-importer` (installed from the pinned lockfile)."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm are not installed; the js reference CIDs need them")
    if not (JS_DIR / "node_modules" / "ipfs-unixfs-importer").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True,
                       capture_output=True, timeout=300)
    paths = [str(path) for path in reference_files.values()]
    completed = subprocess.run([node, str(JS_DIR / "reference_cids.mjs"), *paths],
                               capture_output=True, text=True, check=True, timeout=120)
    by_path = json.loads(completed.stdout)
    return {label: by_path[str(path)] for label, path in reference_files.items()}


@pytest.mark.parametrize("label", list(SIZES))
def test_storage_cids_match_js_ipfs(label: str, reference_files: dict[str, Path],
                                    js_reference: dict[str, dict[str, str]]) -> None:
    path = reference_files[label]
    assert str(import_path(path, ImportOptions.v1()).cid) == js_reference[label]["v1_raw"]
    assert str(import_path(path, ImportOptions.v0()).cid) == js_reference[label]["v0"]


def test_storage_two_level_file_really_has_two_levels(reference_files: dict[str, Path]) -> None:
    blocks: dict[CID, bytes] = {}
    data = reference_files["two_levels"].read_bytes()
    result = import_bytes(data, ImportOptions.v1(), blocks.__setitem__)
    root = decode_pbnode(blocks[result.cid])
    assert len(root.links) == 2
    first = decode_pbnode(blocks[root.links[0].cid])
    assert len(first.links) == MAX_LINKS
    assert decode_unixfs(root.data or b"").filesize == len(data)
    # Tsize is the subtree's encoded size, never 0 (libp2p's MerkleDag writes 0).
    assert root.links[0].tsize == len(blocks[root.links[0].cid]) + MAX_LINKS * CHUNK_SIZE
    assert result.blocks == len(blocks) == 181 + 2 + 1  # leaves + two parents + root


# Published CIDs (IPFS docs and countless examples), independent of any code here.
KNOWN = [
    (b"", ImportOptions.v0(), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"),
    (b"hello world\n", ImportOptions.v0(), "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"),
    (b"", ImportOptions.v1(), "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
]


@pytest.mark.parametrize(("data", "options", "expected"), KNOWN)
def test_storage_known_published_cids(data: bytes, options: ImportOptions,
                                      expected: str) -> None:
    assert str(import_bytes(data, options).cid) == expected


def test_storage_single_chunk_v1_is_the_raw_block() -> None:
    data = b"hello world\n"
    assert import_bytes(data, ImportOptions.v1()).cid == CID.for_block(data, RAW)


@pytest.mark.parametrize("options", [ImportOptions.v1(), ImportOptions.v0()])
def test_storage_incremental_writes_equal_one_shot(options: ImportOptions) -> None:
    data = _content(3 * CHUNK_SIZE + 99, 42)
    importer = FileImporter(options)
    for start in range(0, len(data), 100_003):
        importer.write(data[start:start + 100_003])
    assert importer.finish().cid == import_bytes(data, options).cid


@pytest.mark.parametrize("options", [ImportOptions.v1(), ImportOptions.v0()])
def test_storage_read_file_reassembles_bytes(options: ImportOptions) -> None:
    data = _content(5 * CHUNK_SIZE + 3, 7)
    blocks: dict[CID, bytes] = {}
    root = import_bytes(data, options, blocks.__setitem__).cid
    assert read_file(root, blocks.__getitem__) == data


def test_storage_cid_strings_round_trip() -> None:
    for text in ("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
                 "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"):
        assert str(CID.parse(text)) == text
    v0 = CID.parse("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
    assert v0.to_v1().codec == DAG_PB and v0.to_v1().key == v0.key
    assert str(v0.to_v1()).startswith("bafybei")
    for bad in ("", "Qm123", "bnotbase32!!!!!!", "hello"):
        with pytest.raises(CIDError):
            CID.parse(bad)


def test_storage_varint_and_protobuf_round_trip() -> None:
    for value in (0, 1, 127, 128, 300, 2**32, 2**63 - 1):
        assert decode_varint(encode_varint(value)) == (value, len(encode_varint(value)))
    child = CID.for_block(b"x", RAW)
    node = PBNode((PBLink(child, 1),), encode_unixfs(UnixFSData(UNIXFS_FILE, b"", 1, (1,))))
    assert decode_pbnode(encode_pbnode(node)) == node
    assert decode_unixfs(node.data or b"") == UnixFSData(UNIXFS_FILE, b"", 1, (1,))


@pytest.mark.parametrize("size", [0, 1, 200, CHUNK_SIZE])
def test_storage_fast_leaf_encoding_equals_generic_protobuf(size: int) -> None:
    from oarn_tui.storage.unixfs import _file_leaf_block

    chunk = _content(size, size)
    generic = encode_pbnode(PBNode((), encode_unixfs(UnixFSData(UNIXFS_FILE, chunk, size))))
    assert _file_leaf_block(chunk) == generic
    assert _file_leaf_block(memoryview(chunk)) == generic
