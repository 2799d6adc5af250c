"""Build the sample ONNX models in this directory with the `onnx` helper API.

    python assets/models/build_models.py

- `tiny_mlp.onnx`: a 2-layer classifier, x float32[N,4] -> probs float32[N,3] (softmax).
- `matmul_512.onnx`: 8 MatMul layers (ReLU between) alternating two 512×512 weights, x
  float32[N,512]; with N=256 a bare `session.run` takes well over 5 ms on one thread (about
  1 GFLOP; the executor benchmark's model) while the file stays 2 MiB.

Weights come from a fixed seed, so the files are reproducible byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
OPSET = 17


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="oarn-build-models")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def tiny_mlp() -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    w1 = numpy_helper.from_array(rng.standard_normal((4, 8)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.standard_normal((8, 3)).astype(np.float32), "w2")
    b2 = numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "b2")
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]),
             helper.make_node("Relu", ["h"], ["hr"]),
             helper.make_node("Gemm", ["hr", "w2", "b2"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=1)]
    graph = helper.make_graph(
        nodes, "tiny_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 3])],
        initializer=[w1, b1, w2, b2])
    return _model(graph)


def matmul(size: int = 512, depth: int = 8) -> onnx.ModelProto:
    rng = np.random.default_rng(11)
    scale = 1.0 / np.sqrt(size)
    w1 = numpy_helper.from_array((rng.standard_normal((size, size)) * scale)
                                 .astype(np.float32), "w1")
    w2 = numpy_helper.from_array((rng.standard_normal((size, size)) * scale)
                                 .astype(np.float32), "w2")
    nodes = []
    current = "x"
    for layer in range(depth):
        weight = "w1" if layer % 2 == 0 else "w2"
        nodes.append(helper.make_node("MatMul", [current, weight], [f"h{layer}"]))
        if layer < depth - 1:
            nodes.append(helper.make_node("Relu", [f"h{layer}"], [f"r{layer}"]))
            current = f"r{layer}"
    nodes[-1].output[0] = "y"
    graph = helper.make_graph(
        nodes, f"matmul_{size}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", size])],
        initializer=[w1, w2])
    return _model(graph)


def main() -> None:
    for name, model in (("tiny_mlp.onnx", tiny_mlp()), ("matmul_512.onnx", matmul())):
        (HERE / name).write_bytes(model.SerializeToString())
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
