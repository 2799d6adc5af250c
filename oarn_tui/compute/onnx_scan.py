"""Find ONNX tensors that keep their data in external files, by reading the protobuf wire format.

ONNX Runtime resolves external-data paths against its working directory, so a model whose
tensors say `tmp/...` or `../../..` would read files of the machine into its result; the node
refuses such models before ONNX Runtime sees them. This scanner walks only the messages that can
hold tensors (graph, nodes, attributes, subgraphs, functions, sparse tensors) and skips tensor
bytes without copying them. It exists so the executor need not import the `onnx` package, whose
import alone costs more than a second of every executor start. Field numbers are onnx.proto's.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
MAX_DEPTH = 64
EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
# message kind -> {field number: kind of the embedded message}
LAYOUT: dict[str, dict[int, str]] = {
    "model": {7: "graph", 25: "function"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "function": {7: "node"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse",
                  23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
}


class MalformedModel(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise MalformedModel("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of one message; LENGTH values are views."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == LENGTH:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise MalformedModel("field runs past the message")
            yield number, wire, data[pos:pos + size]
            pos += size
        elif wire in (FIXED64, FIXED32):
            pos += 8 if wire == FIXED64 else 4
        else:
            raise MalformedModel(f"unsupported wire type {wire}")
    if pos != len(data):
        raise MalformedModel("message ends inside a field")


def _tensor(data: memoryview) -> tuple[str, str] | None:
    """(name, location) when this TensorProto points at external data."""
    name, location, external = "", "", False
    for number, wire, value in _fields(data):
        if number == 8 and wire == LENGTH:
            name = bytes(value).decode(errors="replace")
        elif number == 14 and wire == VARINT and value == EXTERNAL:
            external = True
        elif number == 13 and wire == LENGTH:
            external = True
            entry = {n: bytes(v).decode(errors="replace") for n, w, v in _fields(value)  # type: ignore[arg-type]
                     if w == LENGTH}
            if entry.get(1) == "location":
                location = entry.get(2, "")
    return (name, location) if external else None


def external_tensors(model: bytes | memoryview) -> list[tuple[str, str]]:
    """(tensor name, location) of every tensor with external data; raises MalformedModel."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, memoryview, int]] = [("model", memoryview(model), 0)]
    while stack:
        kind, data, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise MalformedModel("graphs nested too deep")
        if kind == "tensor":
            hit = _tensor(data)
            if hit is not None:
                found.append(hit)
            continue
        layout = LAYOUT[kind]
        for number, wire, value in _fields(data):
            child = layout.get(number)
            if child is not None and wire == LENGTH:
                stack.append((child, value, depth + 1))  # type: ignore[arg-type]
    return found
