"""Model engines that run *inside* a sandboxed executor: ONNX Runtime, TorchScript, GGUF.

Each engine is built from an already opened model file (`/proc/self/fd/N`: the sandbox does not
show the node's files), reports its determinism fields, and runs one task.
Errors a task can cause raise `TaskError` with a reason a person can read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

ONNX_LEVELS = {"disabled": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
               "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
ONNX_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64",
              "tensor(float16)": "float16", "tensor(int64)": "int64", "tensor(int32)": "int32",
              "tensor(int16)": "int16", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
              "tensor(uint16)": "uint16", "tensor(uint32)": "uint32",
              "tensor(uint64)": "uint64", "tensor(bool)": "bool"}


class TaskError(Exception):
    """A task failed for a reason the executor can state; `kind` groups reasons."""

    def __init__(self, reason: str, kind: str = "runtime") -> None:
        super().__init__(reason)
        self.reason, self.kind = reason, kind


def short_error(exc: BaseException) -> str:
    """The first line of an error, without ONNX Runtime's source paths and status prefix."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for marker in ("Status Message: ",):
        if marker in text:
            text = text.split(marker, 1)[1]
    if text.startswith("/") and ") " in text:  # "/src/file.cc:360 void* f(...) message"
        text = text.rsplit(") ", 1)[1]
    return text


def memory_reason(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in ("bad_alloc", "failed to allocate", "out of memory",
                                            "cannot allocate memory", "memoryerror"))


def refuse_external_data(data: bytes) -> None:
    """Refuse an ONNX model whose tensors live in external files: ONNX Runtime resolves their
    paths against the working directory, so `tmp/...` or `../../..` would read files of the
    machine into the result. A model that does not parse is left to ONNX Runtime's message
    (inside the sandbox there is nothing but libraries to read anyway)."""
    from oarn_tui.compute.onnx_scan import MalformedModel, external_tensors

    try:
        found = external_tensors(data)
    except MalformedModel:
        return
    if found:
        name, location = found[0]
        raise TaskError(f"model refused: tensor {name!r} keeps its data in an external file "
                        f"({location!r}); this node runs only self-contained ONNX models (save "
                        "with save_as_external_data=False)", "model")


class OnnxEngine:
    """ONNX Runtime session with pinned options (optimisation level, threads, provider)."""

    runtime = "onnxruntime"

    def __init__(self, model_path: str, *, threads: int, optimization: str,
                 use_cuda: bool = True) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel,
                                                   ONNX_LEVELS[optimization])
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 4  # errors reach the node as reasons, not on stderr
        ort.set_default_logger_severity(4)
        providers = ["CPUExecutionProvider"]
        if use_cuda and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        with open(model_path, "rb") as handle:
            data = handle.read()
        refuse_external_data(data)
        try:
            self.session = ort.InferenceSession(data, sess_options=options, providers=providers)
        except Exception as exc:
            text = short_error(exc)
            kind = "memory" if memory_reason(text) else "model"
            raise TaskError(f"ONNX Runtime cannot load the model: {text}", kind) from None
        self.version = ort.__version__
        self.optimization = optimization
        self.provider = self.session.get_providers()[0]
        self.inputs = {i.name: i for i in self.session.get_inputs()}

    def check_inputs(self, inputs: Mapping[str, np.ndarray]) -> None:
        for name, spec in self.inputs.items():
            expected = f"{ONNX_TYPES.get(spec.type, spec.type)}{list(spec.shape)}"
            if name not in inputs:
                raise TaskError(f"missing input {name!r} (model expects {name}: {expected})",
                                "input")
            array = inputs[name]
            dtype = ONNX_TYPES.get(spec.type)
            if dtype is not None and array.dtype.name != dtype:
                raise TaskError(f"input {name!r} is {array.dtype.name}, model expects {expected}",
                                "input")
            shape = list(spec.shape)
            fits = len(shape) == array.ndim and all(
                not isinstance(dim, int) or dim == size for dim, size in zip(shape, array.shape,
                                                                              strict=True))
            if not fits:
                raise TaskError(f"input {name!r} has shape {list(array.shape)}, model expects "
                                f"{expected}", "input")
        unknown = sorted(set(inputs) - set(self.inputs))
        if unknown:
            raise TaskError(f"unknown input {unknown[0]!r} (model inputs: "
                            f"{', '.join(self.inputs)})", "input")

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.check_inputs(inputs)
        names = [o.name for o in self.session.get_outputs()]
        try:
            values = self.session.run(names, dict(inputs))
        except Exception as exc:
            text = short_error(exc)
            kind = "memory" if memory_reason(text) or isinstance(exc, MemoryError) else "runtime"
            raise TaskError(f"ONNX Runtime failed: {text}", kind) from None
        return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}


class TorchScriptEngine:
    """A TorchScript module on the CPU (or CUDA when present), inference mode."""

    runtime = "torch"

    def __init__(self, model_path: str, *, threads: int, use_cuda: bool = True) -> None:
        import torch

        torch.set_num_threads(threads)
        self.torch = torch
        self.device = "cuda" if use_cuda and torch.cuda.is_available() else "cpu"
        try:
            self.module = torch.jit.load(model_path, map_location=self.device).eval()
        except Exception as exc:
            raise TaskError(f"torch cannot load the TorchScript model: "
                            f"{str(exc).strip().splitlines()[0]}", "model") from None
        self.version = torch.__version__
        self.optimization = "eager"
        self.provider = "cpu" if self.device == "cpu" else "cuda"
        schema = self.module.forward.schema
        self.input_names = [arg.name for arg in schema.arguments[1:]]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise TaskError(f"missing input {missing[0]!r} (model inputs: "
                            f"{', '.join(self.input_names)})", "input")
        args = [self.torch.from_numpy(np.ascontiguousarray(inputs[name])).to(self.device)
                for name in self.input_names]
        try:
            with self.torch.inference_mode():
                result = self.module(*args)
        except Exception as exc:
            text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            kind = "memory" if memory_reason(text) or isinstance(exc, MemoryError) else "runtime"
            raise TaskError(f"TorchScript model failed: {text}", kind) from None
        return _torch_outputs(result)


def _torch_outputs(result: Any) -> dict[str, np.ndarray]:
    if isinstance(result, dict):
        items = {str(k): v for k, v in result.items()}
    elif isinstance(result, tuple | list):
        items = {f"output_{i}": v for i, v in enumerate(result)}
    else:
        items = {"output": result}
    outputs = {}
    for name, value in items.items():
        if not hasattr(value, "detach"):
            raise TaskError(f"TorchScript output {name!r} is not a tensor", "model")
        outputs[name] = value.detach().cpu().numpy()
    return outputs


class GgufEngine:
    """A GGUF language model through llama-cpp-python; greedy decoding for reproducibility."""

    runtime = "llama.cpp"

    def __init__(self, model_path: str, *, threads: int, context: int = 2048) -> None:
        import llama_cpp

        try:
            self.llama = llama_cpp.Llama(model_path=model_path, n_ctx=context, n_threads=threads,
                                         n_threads_batch=threads, seed=0, verbose=False)
        except Exception as exc:
            raise TaskError(f"llama.cpp cannot load the GGUF model: {exc}", "model") from None
        self.version = llama_cpp.__version__
        self.optimization = "greedy"
        gpu = bool(getattr(llama_cpp, "llama_supports_gpu_offload", lambda: False)())
        self.provider = "llama.cpp-gpu" if gpu else "llama.cpp-cpu"

    def generate(self, prompt: str, max_tokens: int,
                 on_token: Callable[[str], None]) -> tuple[str, int]:
        """Stream a chat completion of `prompt`; returns (text, tokens generated)."""
        self.llama.reset()
        pieces: list[str] = []
        count = 0
        try:
            stream = self.llama.create_chat_completion(
                messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens,
                temperature=0.0, top_k=1, top_p=1.0, seed=0, stream=True)
            if isinstance(stream, dict):  # a whole completion: never with stream=True
                raise TaskError("llama.cpp answered with a whole completion, not a stream",
                                "runtime")
            for chunk in stream:
                piece = chunk["choices"][0]["delta"].get("content")
                if isinstance(piece, str) and piece:
                    count += 1
                    pieces.append(piece)
                    on_token(piece)
        except Exception as exc:
            raise TaskError(f"llama.cpp generation failed: {exc}", "runtime") from None
        return "".join(pieces), count
