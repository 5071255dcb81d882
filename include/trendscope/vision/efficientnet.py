"""EfficientNet-Lite0 (ImageNet-1k) classifier backend, PyTorch through timm.

The offline weights are a state_dict in the lukemelas ``EfficientNet`` naming (``_blocks.N...``),
ported from the TensorFlow release. They load into timm's ``tf_efficientnet_lite0``: the same
architecture and parameter names as ``efficientnet_lite0`` but with TensorFlow "same" padding
and BatchNorm eps 1e-3, as the weights were trained. Both load strictly; the TF variant is a
little more confident on the test photos (espresso 0.95 vs 0.94, and ``palace`` rather than
``bell cote`` for sklearn's china.jpg). The keys are remapped by name and loading is strict:
every tensor must land.

On a CPU the model runs in ONNX Runtime (about 2.5x faster than eager PyTorch there): it is
exported once from the loaded weights into ``<weights>.<sha256>.onnx`` beside them and reused
by every later process. On a GPU it runs in PyTorch at half precision.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trendscope.models.fetch import file_sha256
from trendscope.vision.base import ModelInfo
from trendscope.vision.labels import imagenet_labels
from trendscope.vision.onnxrt import onnx_session

log = logging.getLogger(__name__)

TIMM_ARCH = "tf_efficientnet_lite0"
RESIZE, CROP = 256, 224
_BLOCK = re.compile(r"^_blocks\.(\d+)\.(_\w+)\.(\w+)$")
_DEPTHWISE_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}


def remap_lukemelas_keys(state: dict[str, Any], model: Any) -> dict[str, Any]:
    """Rename a lukemelas EfficientNet state_dict to timm's module names.

    lukemelas numbers blocks flatly (``_blocks.0`` ... ``_blocks.15``); timm nests them in
    stages (``blocks.<stage>.<block>``). The flat order is timm's stages read in order.
    """
    flat = [
        (f"blocks.{si}.{bi}", type(block).__name__)
        for si, stage in enumerate(model.blocks)
        for bi, block in enumerate(stage)
    ]
    out: dict[str, Any] = {}
    for key, value in state.items():
        m = _BLOCK.match(key)
        if m:
            index, module, param = int(m.group(1)), m.group(2), m.group(3)
            if index >= len(flat):
                raise KeyError(f"checkpoint block {index} has no counterpart in {TIMM_ARCH}")
            prefix, kind = flat[index]
            names = _DEPTHWISE_SEPARABLE if kind == "DepthwiseSeparableConv" else _INVERTED_RESIDUAL
            out[f"{prefix}.{names[module]}.{param}"] = value
        else:
            module, _, param = key.partition(".")
            out[f"{_TOP[module]}.{param}"] = value
    return out


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``.

    On Linux without an NVIDIA device node there is no GPU to see: torch is not imported for it.
    """
    no_gpu = sys.platform.startswith("linux") and not Path("/dev/nvidiactl").exists()
    if device == "cpu" or (device == "auto" and no_gpu):
        return "cpu"
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' asked for but torch sees no GPU")
    return device


def onnx_cache_path(weights_path: str | os.PathLike[str], sha256: str) -> Path:
    """Where the ONNX export of these weights is kept: beside them, keyed by their sha256."""
    p = Path(weights_path)
    return p.with_name(f"{p.stem}.{TIMM_ARCH}.{sha256[:16]}.onnx")


def export_onnx(model: Any, imgsz: int = CROP) -> bytes:
    """The model as ONNX (dynamic batch, input ``images`` ``[N, 3, imgsz, imgsz]``, output
    logits); also the export of a fine-tuned classifier (:mod:`trendscope.training`)."""
    import torch

    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notice
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, imgsz, imgsz),),
            buf,
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes={"images": {0: "n"}, "logits": {0: "n"}},
            opset_version=17,
            dynamo=False,
        )
    return buf.getvalue()


def _cached_onnx(
    model: Callable[[], Any], weights_path: str | os.PathLike[str], sha256: str
) -> str | bytes:
    """The cached export's path, exporting ``model()`` first if needed (in memory if it cannot
    be kept)."""
    path = onnx_cache_path(weights_path, sha256)
    if path.is_file():
        return str(path)
    data = export_onnx(model())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only models_dir: use the export without keeping it
        tmp.unlink(missing_ok=True)
        log.warning("cannot keep the ONNX export at %s (%s); exported in memory", path, exc)
        return data
    log.info("exported %s to %s", TIMM_ARCH, path)
    return str(path)


class EfficientNetLite0Classifier:
    """ImageNet-1k EfficientNet-Lite0; implements :class:`~.base.Classifier`."""

    def __init__(
        self,
        weights_path: str | os.PathLike[str],
        *,
        sha256: str | None = None,
        device: str = "auto",
        name: str = "efficientnet_lite0",
        threads: int | None = None,
    ) -> None:
        """``threads``: ONNX Runtime intra-op threads on a CPU (default: the usable cores)."""
        self.device = resolve_device(device)
        self._weights_path = weights_path
        self._model: Any = None
        sha256 = sha256 or file_sha256(weights_path)
        self.session: Any = None
        if self.device == "cpu":
            self.session = self._onnx_session(weights_path, sha256, threads)
        if self.session is None:
            self.model  # noqa: B018 - load the PyTorch module now, not on the first batch
        self.labels = imagenet_labels()
        self.info = ModelInfo(name=name, sha256=sha256, path=str(weights_path))

    @property
    def model(self) -> Any:
        """The PyTorch module, loaded on first use: a CPU run from the cached ONNX export never
        imports torch (about 700 MB of resident memory)."""
        if self._model is None:
            import timm
            import torch

            model = timm.create_model(TIMM_ARCH, pretrained=False, num_classes=1000)
            state = torch.load(str(self._weights_path), map_location="cpu", weights_only=True)
            model.load_state_dict(remap_lukemelas_keys(state, model), strict=True)
            model = model.eval().to(self.device)
            self._model = model.half() if self.device == "cuda" else model
        return self._model

    def _onnx_session(
        self, weights_path: str | os.PathLike[str], sha256: str, threads: int | None
    ) -> Any:
        """ONNX Runtime session of the export, or ``None`` (PyTorch) where onnx is missing."""
        try:
            model = _cached_onnx(lambda: self.model, weights_path, sha256)
            try:
                return onnx_session(model, "cpu", threads)
            except Exception:  # a damaged cache file: export again, in memory
                return onnx_session(export_onnx(self.model), "cpu", threads)
        except Exception as exc:  # the exporter needs the `onnx` package
            log.warning("%s runs in PyTorch: ONNX export failed (%s)", TIMM_ARCH, exc)
            return None

    @property
    def runtime(self) -> str:
        """``onnxruntime`` or ``torch``: what :meth:`inference` runs."""
        return "onnxruntime" if self.session is not None else "torch"

    @staticmethod
    def preprocess_one(image: np.ndarray) -> np.ndarray:
        """RGB ``uint8`` -> ``(3, 224, 224)`` float32: short side 256, centre crop, (x-127)/128."""
        import cv2

        h, w = image.shape[:2]
        s = RESIZE / min(h, w)
        nh, nw = max(CROP, round(h * s)), max(CROP, round(w * s))
        resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        top, left = (nh - CROP) // 2, (nw - CROP) // 2
        crop = resized[top : top + CROP, left : left + CROP].astype(np.float32)
        return ((crop - 127.0) / 128.0).transpose(2, 0, 1)

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """A batch ``(N, 3, 224, 224)`` float32 of RGB ``uint8`` images."""
        return np.stack([self.preprocess_one(img) for img in images])

    def inference(self, batch: np.ndarray) -> np.ndarray:
        """Logits ``(N, 1000)`` float32 (half precision on a GPU)."""
        if self.session is not None:
            return self.session.run(None, {"images": np.ascontiguousarray(batch, np.float32)})[0]
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device)
            if self.device == "cuda":
                x = x.half()
            return self.model(x).float().cpu().numpy()

    @staticmethod
    def postprocess(logits: np.ndarray) -> np.ndarray:
        """Softmax over all 1000 classes, float32."""
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict_proba(self, images: Sequence[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """Softmax probabilities ``(N, 1000)`` for RGB ``uint8`` images or crops."""
        if not images:
            return np.zeros((0, len(self.labels)), np.float32)
        parts = [
            self.postprocess(self.inference(self.preprocess(images[i : i + batch_size])))
            for i in range(0, len(images), batch_size)
        ]
        return np.concatenate(parts)
