"""ONNX Runtime sessions as every ONNX backend here opens them (providers, threads, options)."""

from __future__ import annotations

from typing import Any

from trendscope.vision.threads import usable_cpus


def onnx_providers(device: str) -> list[str]:
    """ONNX Runtime providers for ``device`` (auto: CUDA when available, else CPU)."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise RuntimeError("device 'cuda' asked for but onnxruntime has no CUDAExecutionProvider")
    return ["CPUExecutionProvider"]


def onnx_session(model: str | bytes, device: str, threads: int | None = None) -> Any:
    """An inference session with all graph optimisations and ``threads`` intra-op threads.

    ``model`` is a path or the serialized model. ``threads`` defaults to the usable cores (the
    container's CPU share, not the host's core count, so a 2-core pod does not start 64); a
    caller that runs several sessions at once asks for fewer.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or usable_cpus()
    return ort.InferenceSession(model, opts, providers=onnx_providers(device))
