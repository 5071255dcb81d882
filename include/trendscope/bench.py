"""``trendscope bench``: the analyze step measured against its own models, in one process.

On N distinct images derived from the real packaged photos (0.3 to 12 megapixels, JPEG and
PNG), one after another on the same files:

* ``decode``: reading and decoding alone, the way the pipeline decodes (draft JPEG scaling);
* ``model_only``: detector and classifier on inputs already in memory, at the pipeline's batch;
* ``pipeline``: the whole analyze step (read, decode, detect, crop, classify, stage Parquet);
* ``naive``: one image at a time, full decode, no batching, no decode-ahead, same models.

Ratios are of images per second, so they hold on any machine; absolute rates depend on it.
"""

from __future__ import annotations

import json
import logging
import platform
import resource
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from trendscope.config import TrendscopeConfig, load_config

log = logging.getLogger(__name__)

BENCH_LOCATION = "bench"
BENCH_DAY = date(2026, 1, 1)
PHOTOS = (
    "chelsea",
    "coffee",
    "astronaut",
    "rocket",
    "motorcycle",
    "china",
    "flower",
    "grace_hopper",
    "bus",
    "zidane",
)


@dataclass
class BenchResult:
    """Rates (images/s), ratios, peak memory and where it ran."""

    images: int
    device: str
    batch_size: int
    rates: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    megapixels: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    when: str = ""

    def table(self) -> str:
        lines = [
            f"trendscope bench: {self.images} images on {self.device}, batch {self.batch_size}"
        ]
        for name, rate in self.rates.items():
            lines.append(f"  {name:<11} {rate:8.1f} images/s  ({self.seconds[name]:.1f} s)")
        for name, ratio in self.ratios.items():
            lines.append(f"  {name:<26} {ratio:.2f}")
        lines.append(f"  peak RSS {self.peak_rss_mb:.0f} MB; photos {self.megapixels}")
        lines.append("  " + ", ".join(f"{k} {v}" for k, v in self.versions.items()))
        return "\n".join(lines)


def make_images(out: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` distinct images from the packaged photos, 0.3-12 MP, about 1 in 8 a PNG."""
    from trendscope.photos import sample_photo

    marker = out / f".bench-{n}-{seed}"
    files = sorted(p for p in out.glob("img-*") if p.is_file()) if out.is_dir() else []
    if marker.exists() and len(files) == n:
        return files
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    sources = {name: Image.fromarray(sample_photo(name)) for name in PHOTOS}
    paths = []
    for k in range(n):
        src = sources[PHOTOS[k % len(PHOTOS)]]
        w, h = src.size
        f = rng.uniform(0.8, 1.0)
        x, y = int(rng.integers(0, w - int(w * f) + 1)), int(rng.integers(0, h - int(h * f) + 1))
        img = src.crop((x, y, x + int(w * f), y + int(h * f)))
        if rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        png = k % 8 == 3
        mp = float(np.exp(rng.uniform(np.log(0.3), np.log(2.0 if png else 12.0))))
        scale = (mp * 1e6 / (img.width * img.height)) ** 0.5
        img = img.resize(
            (max(32, int(img.width * scale)), max(32, int(img.height * scale))),
            Image.Resampling.BILINEAR,
        )
        path = out / f"img-{k:05d}.{'png' if png else 'jpg'}"
        img.save(path, "PNG" if png else "JPEG", quality=88)
        paths.append(path)
    marker.write_text("ok")
    return paths


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_bench(
    n: int, workdir: Path, device: str = "cpu", config: TrendscopeConfig | None = None
) -> BenchResult:
    """Measure the four phases on ``n`` images under ``workdir`` (images cached there)."""
    from trendscope.ingest.decode import decode_for_models, decode_rgb
    from trendscope.pipeline.analyze import Analyzer, analyze_day
    from trendscope.pipeline.ingest import ingest_day
    from trendscope.vision.fine import crop

    base = config or load_config()
    source = workdir / "dropzone"
    day_dir = source / BENCH_LOCATION / BENCH_DAY.isoformat()
    paths = make_images(day_dir, n)
    config = base.model_copy(
        update={
            "data_dir": str(workdir / "data"),
            "source": base.source.model_copy(update={"path": str(source)}),
            "locations": [*base.locations, type(base.locations[0])(slug=BENCH_LOCATION)],
            "detector": base.detector.model_copy(update={"device": device}),
            "classifier": base.classifier.model_copy(update={"device": device}),
            "sharding": base.sharding.model_copy(update={"max_images_per_shard": max(n, 1)}),
            # the bench images are crops of ten photos: near-duplicate dedup would drop half
            "dedup": base.dedup.model_copy(update={"max_distance": 0}),
        }
    )
    analyzer = Analyzer(config)  # loads (and caches) the models outside the timings
    analyzer.analyze([np.zeros((64, 64, 3), np.uint8)])  # warm-up
    max_side, max_pixels = config.analyze.decode_max_side, config.source.max_pixels
    result = BenchResult(images=n, device=device, batch_size=config.batch_size)
    mps = [Image.open(p).size for p in paths]
    mp = [w * h / 1e6 for w, h in mps]
    result.megapixels = {
        "min": round(min(mp), 2),
        "median": round(float(np.median(mp)), 2),
        "max": round(max(mp), 2),
    }

    # decode: read + decode as the pipeline does, one thread
    result.seconds["decode"] = _timed(
        lambda: [decode_for_models(p.read_bytes(), max_pixels, max_side) for p in paths]
    )

    # model_only: inputs prepared in memory first (letterboxed detector canvases, classifier
    # tensors of whole images and of the target crops), then only the models are timed
    det, cls = analyzer.detector, analyzer.classifier
    det_inputs, cls_inputs, shapes, scales = [], [], [], []
    for p in paths:
        px, _ = decode_for_models(p.read_bytes(), max_pixels, max_side)
        batch, sc = det.preprocess([px])  # type: ignore[attr-defined]
        det_inputs.append(batch[0].astype(np.uint8))
        scales.append(sc[0])
        shapes.append(px.shape[:2])
        tensors = [cls.preprocess_one(px)]  # type: ignore[attr-defined]
        d = det.detect([px])[0]
        for j in range(len(d)):
            target = config.targets.get(d.labels[j])
            if target and d.confidence[j] >= target.crop_threshold:
                tensors.append(cls.preprocess_one(crop(px, tuple(d.xyxy[j]), target.crop_padding)))  # type: ignore[attr-defined]
        cls_inputs.append(np.stack(tensors).astype(np.float16))
    bs = config.batch_size

    def models() -> None:
        for k in range(0, n, bs):
            batch = np.stack(det_inputs[k : k + bs]).astype(np.float32)
            raw = det.inference(batch)  # type: ignore[attr-defined]
            det.postprocess(raw, scales[k : k + bs], shapes[k : k + bs])  # type: ignore[attr-defined]
            cls.inference(np.concatenate(cls_inputs[k : k + bs]).astype(np.float32))  # type: ignore[attr-defined]

    result.seconds["model_only"] = _timed(models)
    det_inputs.clear()
    cls_inputs.clear()

    # pipeline: the analyze step itself (ingest staged first, not timed)
    ingest_day(config, BENCH_LOCATION, BENCH_DAY)
    result.seconds["pipeline"] = _timed(lambda: analyze_day(config, BENCH_LOCATION, BENCH_DAY))

    # naive: one image at a time, full decode, batch of one everywhere
    def naive() -> None:
        for p in paths:
            px = decode_rgb(p.read_bytes(), max_pixels)
            d = det.detect([px])[0]
            cls.predict_proba([px])
            for j in range(len(d)):
                target = config.targets.get(d.labels[j])
                if target and d.confidence[j] >= target.crop_threshold:
                    cls.predict_proba([crop(px, tuple(d.xyxy[j]), target.crop_padding)])

    result.seconds["naive"] = _timed(naive)
    result.rates = {k: n / v for k, v in result.seconds.items()}
    result.ratios = {
        "pipeline / model_only": result.rates["pipeline"] / result.rates["model_only"],
        "pipeline / naive": result.rates["pipeline"] / result.rates["naive"],
    }
    result.peak_rss_mb = _rss_mb()
    result.versions = _versions()
    result.when = datetime.now().isoformat(timespec="seconds")
    return result


def _versions() -> dict[str, str]:
    import onnxruntime
    import torch

    import trendscope

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "trendscope": getattr(trendscope, "__version__", "0.1.0"),
        "cpu": platform.processor() or platform.machine(),
    }


def main(n: int, device: str, json_path: str | None, workdir: str) -> int:
    result = run_bench(n, Path(workdir), device)
    print(result.table())
    if json_path:
        Path(json_path).write_text(json.dumps(asdict(result), indent=2))
    return 0
