"""Compute: acceptance policy, sandboxed executors (ONNX Runtime, GGUF, TorchScript, Ollama),
canonical tensor I/O, determinism classes and model manifests."""
