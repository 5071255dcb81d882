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
import threading
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
    analyzed: int = 0  # images the pipeline phase analyzed (the rest were exact duplicates)
    rates: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    pipeline_peak_rss_mb: float = 0.0  # the largest RSS seen while the pipeline phase ran
    shard_images: int = 0  # sharding.max_images_per_shard
    shard_minutes: float = 0.0  # one full shard at the pipeline's rate: what sizes the shards
    megapixels: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    when: str = ""

    def table(self) -> str:
        lines = [
            f"trendscope bench: {self.images} images on {self.device}, batch {self.batch_size}"
        ]
        for name, rate in self.rates.items():
            lines.append(f"  {name:<11} {rate:8.1f} images/s  ({self.seconds[name]:.1f} s)")
        if self.analyzed != self.images:
            lines.append(f"  (pipeline analyzed {self.analyzed}; the rest were exact duplicates)")
        for name, ratio in self.ratios.items():
            lines.append(f"  {name:<26} {ratio:.2f}")
        if self.shard_minutes:
            lines.append(
                f"  one shard of {self.shard_images} images: {self.shard_minutes:.1f} min "
                "at the pipeline's rate"
            )
        lines.append(
            f"  peak RSS {self.peak_rss_mb:.0f} MB (pipeline phase {self.pipeline_peak_rss_mb:.0f}"
            f" MB); photos {self.megapixels}"
        )
        lines.append("  " + ", ".join(f"{k} {v}" for k, v in self.versions.items()))
        return "\n".join(lines)


def make_images(out: Path, n: int, seed: int = 0, megapixels: float | None = None) -> list[Path]:
    """``n`` distinct images from the packaged photos, 0.3-12 MP, about 1 in 8 a PNG.

    ``megapixels`` makes every image that size instead (the memory run's small images); those
    are 2x2 mosaics of random crops of random photos, so thousands of them stay distinct under
    the perceptual hash.
    """
    from trendscope.photos import sample_photo

    marker = out / f".bench-{n}-{seed}-{megapixels or 'mixed'}"
    files = sorted(p for p in out.glob("img-*") if p.is_file()) if out.is_dir() else []
    if marker.exists() and len(files) == n:
        return files
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    sources = {name: Image.fromarray(sample_photo(name)) for name in PHOTOS}
    paths = []

    def random_crop(src: Image.Image, low: float) -> Image.Image:
        w, h = src.size
        f = rng.uniform(low, 1.0)
        x, y = int(rng.integers(0, w - int(w * f) + 1)), int(rng.integers(0, h - int(h * f) + 1))
        img = src.crop((x, y, x + int(w * f), y + int(h * f)))
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else img

    for k in range(n):
        if megapixels:
            tiles = [
                random_crop(sources[PHOTOS[int(rng.integers(len(PHOTOS)))]], 0.4).resize((320, 240))
                for _ in range(4)
            ]
            img = Image.new("RGB", (640, 480))
            for t, tile in enumerate(tiles):
                img.paste(tile, ((t % 2) * 320, (t // 2) * 240))
        else:
            img = random_crop(sources[PHOTOS[k % len(PHOTOS)]], 0.8)
        png = k % 8 == 3
        mp = megapixels or float(np.exp(rng.uniform(np.log(0.3), np.log(2.0 if png else 12.0))))
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


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


class _RssSampler:
    """The largest resident set seen while the block runs (sampled every 50 ms; Linux)."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_mb = max(self.peak_mb, _current_rss_mb())

    def __enter__(self) -> _RssSampler:
        self.peak_mb = _current_rss_mb()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _current_rss_mb())


def _pipeline_phase(config: TrendscopeConfig, result: BenchResult) -> None:
    """Time the analyze step on the staged day and record its images and peak RSS."""
    from trendscope.pipeline.analyze import analyze_day

    with _RssSampler() as rss:
        start = time.perf_counter()
        step = analyze_day(config, BENCH_LOCATION, BENCH_DAY)
        result.seconds["pipeline"] = time.perf_counter() - start
    result.analyzed = int(step.counts["images_ok"])
    result.pipeline_peak_rss_mb = rss.peak_mb


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _bench_setup(
    n: int,
    workdir: Path,
    device: str,
    config: TrendscopeConfig | None,
    megapixels: float | None = None,
) -> tuple[TrendscopeConfig, list[Path], int]:
    """The bench images in a dropzone under ``workdir``, a config that reads them in one shard,
    and the configured shard size (``sharding.max_images_per_shard``)."""
    base = config or load_config()
    source = workdir / "dropzone"
    day_dir = source / BENCH_LOCATION / BENCH_DAY.isoformat()
    paths = make_images(day_dir, n, megapixels=megapixels)
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
    return config, paths, base.sharding.max_images_per_shard


def run_bench(
    n: int, workdir: Path, device: str = "cpu", config: TrendscopeConfig | None = None
) -> BenchResult:
    """Measure the four phases on ``n`` images under ``workdir`` (images cached there)."""
    from trendscope.ingest.decode import decode_for_models, decode_rgb
    from trendscope.pipeline.analyze import Analyzer
    from trendscope.pipeline.ingest import ingest_day
    from trendscope.vision.factory import load_classifier, load_detector
    from trendscope.vision.fine import crop

    config, paths, shard_images = _bench_setup(n, workdir, device, config)
    # models loaded (and cached) outside the timings: the pipeline's, whose calls run
    # concurrently on a share of the cores each, and the ones model_only and naive call one
    # batch at a time, each call on every core
    warm = np.zeros((64, 64, 3), np.uint8)
    Analyzer(config).analyze([warm])
    det, cls = load_detector(config), load_classifier(config)
    det.detect([warm])
    cls.predict_proba([warm])
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
    _pipeline_phase(config, result)

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
    # a few crops of the same photo can hash alike and stay duplicates: rate of what was analyzed
    counts = {"pipeline": result.analyzed}
    result.rates = {k: counts.get(k, n) / v for k, v in result.seconds.items()}
    result.ratios = {
        "pipeline / model_only": result.rates["pipeline"] / result.rates["model_only"],
        "pipeline / naive": result.rates["pipeline"] / result.rates["naive"],
    }
    result.peak_rss_mb = _rss_mb()
    result.shard_images = shard_images
    result.shard_minutes = shard_images / result.rates["pipeline"] / 60
    result.versions = _versions()
    result.when = datetime.now().isoformat(timespec="seconds")
    return result


def run_memory(
    n: int,
    workdir: Path,
    device: str = "cpu",
    config: TrendscopeConfig | None = None,
    megapixels: float = 0.3,
) -> BenchResult:
    """The pipeline phase alone on ``n`` small images in one shard: its rate and peak RSS.

    The point is bounded memory: the analyze step streams a day batch by batch, so its peak
    must not grow with ``n``. The images are small so that 20,000 of them fit on a laptop disk
    and the run takes minutes; the models and the code path are the pipeline's own.
    """
    from trendscope.pipeline.analyze import Analyzer
    from trendscope.pipeline.ingest import ingest_day

    config, _, shard_images = _bench_setup(n, workdir, device, config, megapixels)
    Analyzer(config).analyze([np.zeros((64, 64, 3), np.uint8)])  # models loaded, untimed
    result = BenchResult(images=n, device=device, batch_size=config.batch_size)
    result.megapixels = {"min": megapixels, "median": megapixels, "max": megapixels}
    result.seconds["ingest"] = _timed(lambda: ingest_day(config, BENCH_LOCATION, BENCH_DAY))
    _pipeline_phase(config, result)
    result.rates = {"pipeline": result.analyzed / result.seconds["pipeline"]}
    result.peak_rss_mb = _rss_mb()
    result.shard_images = shard_images
    result.shard_minutes = shard_images / result.rates["pipeline"] / 60
    result.versions = _versions()
    result.when = datetime.now().isoformat(timespec="seconds")
    return result


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import trendscope

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {
        "python": platform.python_version(),
        "torch": installed("torch"),
        "onnxruntime": installed("onnxruntime"),
        "trendscope": getattr(trendscope, "__version__", "0.1.0"),
        "cpu": platform.processor() or platform.machine(),
    }


def main(n: int, device: str, json_path: str | None, workdir: str, memory: bool = False) -> int:
    """Run the bench (or, with ``memory``, the pipeline-only memory run) and report it."""
    run = run_memory if memory else run_bench
    result = run(n, Path(workdir), device)
    print(result.table())
    if json_path:
        Path(json_path).write_text(json.dumps(asdict(result), indent=2))
    return 0
