"""``trendscope bench``: the analyze step measured against its own ceilings, in one process.

On N distinct images derived from the real packaged photos (0.3 to 12 megapixels, JPEG and
PNG), staged by ingest first (untimed), one phase after another on the images ingest keeps:

* ``decode_only``: the analyze step's read and decode alone, at its concurrency (the floor);
* ``model_only``: the analyze step's model code (detector, crop filter, classifier, rows) on
  the same batches decoded beforehand, at its concurrency: ``analyze.workers`` batches at
  once, cores / workers threads per model call, ``batch_size`` images a batch (the ceiling);
* ``pipeline``: the whole analyze step (read, decode, models, stage Parquet);
* ``naive``: one image at a time, full decode, batch of one, every core per model call.

The phases call the pipeline's own functions (``decode_batch``, ``Analyzer.analyze``,
``run_batches``), so a ceiling cannot drift from what it bounds, and ``--config`` changes all
four alike. Ratios are of images per second, so they hold on any machine; absolute rates
depend on it.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import logging
import os
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
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # the process's, all threads
    cpu_ms_per_image: dict[str, float] = field(default_factory=dict)
    # the ratios from CPU time per image: what the wall-time ratios are when each phase has
    # the cores to itself; they hold while other work shares the machine (naive's calls run
    # ONNX Runtime's thread pool, whose spinning adds to its CPU time: an upper bound there)
    cpu_ratios: dict[str, float] = field(default_factory=dict)
    rss_after_mb: dict[str, float] = field(default_factory=dict)  # after each phase, trimmed
    ratios: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    pipeline_peak_rss_mb: float = 0.0  # the largest RSS seen while the pipeline phase ran
    shard_images: int = 0  # sharding.max_images_per_shard
    shard_minutes: float = 0.0  # one full shard at the pipeline's rate: what sizes the shards
    megapixels: dict[str, float] = field(default_factory=dict)
    setup: dict[str, Any] = field(default_factory=dict)  # models, workers, threads, batches
    targets: dict[str, float] = field(default_factory=dict)  # ratio -> the minimum
    bound: dict[str, Any] = field(default_factory=dict)  # the phase that bounds the pipeline
    versions: dict[str, str] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    when: str = ""

    def table(self) -> str:
        lines = [
            f"trendscope bench: {self.images} images on {self.device}, batch {self.batch_size}"
        ]
        if self.setup:
            st = self.setup
            lines.append(
                f"  {st['workers']} workers x {st['threads_per_call']} threads per model call, "
                f"{st['batches']} batches, {st['detector']['name']} + {st['classifier']['name']}"
                f" ({st['classifier']['runtime']}), decode_max_side {st['decode_max_side']}"
            )
        for name, rate in self.rates.items():
            cpu = self.cpu_ms_per_image.get(name)
            per = f", CPU {cpu:5.1f} ms/image" if cpu is not None else ""
            lines.append(f"  {name:<11} {rate:8.1f} images/s  ({self.seconds[name]:5.1f} s{per})")
        if self.analyzed != self.images:
            lines.append(f"  (each phase took the {self.analyzed} images ingest kept)")
        for name, ratio in self.ratios.items():
            target = self.targets.get(name)
            verdict = ""
            if target is not None:
                verdict = f"  target >= {target} ({'met' if ratio >= target else 'NOT met'})"
            lines.append(f"  {name:<38} {ratio:5.2f}{verdict}")
        if self.cpu_ratios:
            by_cpu = ", ".join(f"{k} {v:.2f}" for k, v in self.cpu_ratios.items())
            lines.append(f"  by CPU time per image (holds on a shared machine): {by_cpu}")
        if self.bound:
            b = self.bound
            shares = ", ".join(f"{k} {v:+.0%}" for k, v in b["cpu_shares_of_pipeline"].items())
            lines.append(
                f"  bounded by {b['phase']} ({b['why']}); the pipeline's CPU: {shares}; "
                f"cores busy {b['pipeline_core_utilisation']:.0%}"
            )
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

    step: Any = None

    def run() -> None:
        nonlocal step
        step = analyze_day(config, BENCH_LOCATION, BENCH_DAY)

    gc.collect()
    _release_memory()  # what earlier phases freed is not the pipeline's
    with _RssSampler() as rss:
        _timed(result, "pipeline", run)
    result.analyzed = int(step.counts["images_ok"])
    result.pipeline_peak_rss_mb = rss.peak_mb


def _timed(result: BenchResult, name: str, fn: Any) -> None:
    """Run ``fn`` as phase ``name``: its wall seconds and the process's CPU seconds (every
    thread's: a phase on two busy cores takes twice its wall time)."""
    gc.collect()
    _release_memory()
    cpu, start = time.process_time(), time.perf_counter()
    fn()
    result.seconds[name] = time.perf_counter() - start
    result.cpu_seconds[name] = time.process_time() - cpu
    _release_memory()
    result.rss_after_mb[name] = _current_rss_mb()


def _release_memory() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them), so one phase's pixels do not
    count in the next phase's resident set."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _bench_setup(
    n: int,
    workdir: Path,
    device: str | None,
    config: TrendscopeConfig | None,
    megapixels: float | None = None,
) -> tuple[TrendscopeConfig, list[Path], int]:
    """The bench images in a dropzone under ``workdir``, ``config`` (default: the configured
    one) reading them in one shard, and its shard size (``sharding.max_images_per_shard``).

    Models, batch size, workers, decoding and crop filters stay the config's; ``device``, when
    given, replaces the models' device.
    """
    base = config or load_config()
    detector, classifier = base.detector, base.classifier
    if device:
        detector = detector.model_copy(update={"device": device})
        classifier = classifier.model_copy(update={"device": device})
    source = workdir / "dropzone"
    day_dir = source / BENCH_LOCATION / BENCH_DAY.isoformat()
    paths = make_images(day_dir, n, megapixels=megapixels)
    config = base.model_copy(
        update={
            "data_dir": str(workdir / "data"),
            "source": base.source.model_copy(update={"path": str(source)}),
            "locations": [*base.locations, type(base.locations[0])(slug=BENCH_LOCATION)],
            "detector": detector,
            "classifier": classifier,
            "sharding": base.sharding.model_copy(update={"max_images_per_shard": max(n, 1)}),
            # the bench images are crops of ten photos: near-duplicate dedup would drop half
            "dedup": base.dedup.model_copy(update={"max_distance": 0}),
        }
    )
    return config, paths, base.sharding.max_images_per_shard


def _analyzer_info(analyzer: Any, config: TrendscopeConfig, batches: int) -> dict[str, Any]:
    """What was measured: the pipeline's models, concurrency, batching, crop filter, decode."""
    det, cls = analyzer.detector, analyzer.classifier
    return {
        "batch_size": config.batch_size,
        "batches": batches,
        "workers": config.analyze.workers,
        "threads_per_call": analyzer.threads,
        "decode_max_side": config.analyze.decode_max_side,
        "detector": {
            "backend": config.detector.backend,
            "name": det.info.name,
            "sha256": det.info.sha256,
            "input_size": config.detector.input_size,
        },
        "classifier": {
            "backend": config.classifier.backend,
            "name": cls.info.name,
            "sha256": cls.info.sha256,
            "runtime": getattr(cls, "runtime", "unknown"),
        },
        "min_crop_pixels": {name: t.min_crop_pixels for name, t in config.targets.items()},
    }


def run_bench(
    n: int,
    workdir: Path,
    device: str | None = None,
    config: TrendscopeConfig | None = None,
) -> BenchResult:
    """Measure the four phases on ``n`` images under ``workdir`` (images cached there).

    Every phase takes the images ingest keeps (the pipeline's own staged ``images`` rows, in the
    pipeline's batches). ``decode_only`` and ``model_only`` run the analyze step's own read and
    decode (:func:`~trendscope.pipeline.analyze.decode_batch`) and its own model code
    (:meth:`~trendscope.pipeline.analyze.Analyzer.analyze`: batch, crop filter, input dtype)
    through its own scheduler (:func:`~trendscope.pipeline.analyze.run_batches`: ``workers``
    batches at once, cores / workers threads per model call), so neither can drift from it.
    """
    from trendscope.ingest.decode import decode_rgb
    from trendscope.pipeline.analyze import Analyzer, decode_batch, run_batches, staged_batches
    from trendscope.pipeline.ingest import ingest_day
    from trendscope.pipeline.shards import Shard
    from trendscope.tables import storage
    from trendscope.vision.threads import usable_cpus

    config, paths, shard_images = _bench_setup(n, workdir, device, config)
    load_before = os.getloadavg()
    # ingest staged first (untimed): every phase measures the images the pipeline analyzes
    ingest_day(config, BENCH_LOCATION, BENCH_DAY)
    images, batches = staged_batches(config, BENCH_LOCATION, BENCH_DAY, Shard())
    todo = [i for batch in batches for i in batch]
    # the models loaded (and cached) outside the timings: the pipeline's Analyzer (analyze_day
    # gets the same cached sessions), and for naive the same models with every core per call
    warm = np.zeros((64, 64, 3), np.uint8)
    analyzer = Analyzer(config)
    one_worker = config.analyze.model_copy(update={"workers": 1})
    naive_analyzer = Analyzer(config.model_copy(update={"analyze": one_worker}))
    analyzer.analyze([warm])
    naive_analyzer.analyze([warm])

    asked = device or config.detector.device
    result = BenchResult(images=n, device=_device(analyzer, asked), batch_size=config.batch_size)
    result.setup = _analyzer_info(analyzer, config, len(batches))
    mp = [w * h / 1e6 for w, h in (Image.open(p).size for p in paths)]
    result.megapixels = {
        "min": round(min(mp), 2),
        "median": round(float(np.median(mp)), 2),
        "max": round(max(mp), 2),
    }

    # decode_only: the pipeline's read + decode at its concurrency, nothing else
    decoded: list[Any] = []
    _timed(
        result,
        "decode_only",
        lambda: decoded.extend(
            run_batches(lambda batch: decode_batch(batch, images, config), batches, config)
        ),
    )
    analyzed = sum(len(d[1]) for d in decoded)
    # one real batch through each analyzer, untimed: the first calls at real sizes grow the
    # runtimes' memory arenas, which the first timed phase would otherwise pay alone
    for _, done, pixels in decoded[:1]:
        analyzer.analyze(pixels, [full for _, full in done])
        for px in pixels:
            naive_analyzer.analyze([px])

    # model_only: the same batches, decoded beforehand, through the pipeline's model code
    def models(k: int) -> Any:
        _, done, pixels = decoded[k]
        return analyzer.analyze(pixels, [full for _, full in done]) if pixels else None

    _timed(
        result,
        "model_only",
        lambda: _drain(run_batches(models, list(range(len(decoded))), config)),
    )
    decoded.clear()

    # pipeline: the analyze step itself
    _pipeline_phase(config, result)

    # naive: one image at a time, full decode, batch of one, no decode-ahead, every core
    max_pixels = config.source.max_pixels

    def naive() -> None:
        for i in todo:
            naive_analyzer.analyze(
                [decode_rgb(storage.read_bytes(images[i]["source_uri"]), max_pixels)]
            )

    _timed(result, "naive", naive)
    if result.analyzed != analyzed:
        raise RuntimeError(f"pipeline analyzed {result.analyzed} images, decode_only {analyzed}")
    _summarise(result, analyzed, cores=usable_cpus())
    result.peak_rss_mb = _rss_mb()
    result.shard_images = shard_images
    result.shard_minutes = shard_images / result.rates["pipeline"] / 60
    result.versions = _versions()
    result.machine = {
        "cpus_usable": len(os.sched_getaffinity(0)),
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
    }
    result.when = datetime.now().isoformat(timespec="seconds")
    return result


def _summarise(result: BenchResult, images: int, cores: int) -> None:
    """Rates, CPU per image, the ratios against their targets, and the bounding phase.

    On a CPU, decoding and the models share the cores, so the pipeline's best is their CPU
    work added up, spread over the cores: ``cores / (decode + models CPU per image)``. With
    the models on a GPU, decoding runs beside them and the slower of the two bounds it.
    """
    sec, cpu = result.seconds, result.cpu_seconds
    result.rates = {k: images / v for k, v in sec.items()}
    result.cpu_ms_per_image = {k: 1000 * v / images for k, v in cpu.items()}
    ms = result.cpu_ms_per_image
    result.ratios = {
        "pipeline / model_only": result.rates["pipeline"] / result.rates["model_only"],
        "pipeline / naive": result.rates["pipeline"] / result.rates["naive"],
    }
    result.targets = {"pipeline / model_only": 0.9, "pipeline / naive": 2.5}
    result.cpu_ratios = {
        "pipeline / model_only": ms["model_only"] / ms["pipeline"],
        "pipeline / naive": ms["naive"] / ms["pipeline"],
    }
    shares = {
        "decode": ms["decode_only"] / ms["pipeline"],
        "models": ms["model_only"] / ms["pipeline"],
    }
    shares["other"] = 1.0 - shares["decode"] - shares["models"]
    if result.device == "cpu":
        ceiling = 1000 * cores / (ms["decode_only"] + ms["model_only"])
        phase = max(("decode", "models"), key=shares.__getitem__)
        why = "decoding and the models share the cores: their CPU work adds up"
    else:
        ceiling = min(result.rates["decode_only"], result.rates["model_only"])
        phase = "decode" if result.rates["decode_only"] < result.rates["model_only"] else "models"
        why = "the models run beside the CPU decode: the slower of the two bounds the pipeline"
    result.ratios["pipeline / (decode + models ceiling)"] = result.rates["pipeline"] / ceiling
    result.bound = {
        "phase": phase,
        "why": why,
        "ceiling_images_per_s": ceiling,
        "cpu_shares_of_pipeline": shares,
        "pipeline_core_utilisation": cpu["pipeline"] / (sec["pipeline"] * cores),
    }


def _drain(results: Any) -> None:
    for _ in results:
        pass


def _device(analyzer: Any, asked: str) -> str:
    """The device the classifier resolved ``asked`` to (``auto`` -> ``cpu`` or ``cuda``)."""
    return str(getattr(analyzer.classifier, "device", asked))


def run_memory(
    n: int,
    workdir: Path,
    device: str | None = None,
    config: TrendscopeConfig | None = None,
    megapixels: float = 0.3,
) -> BenchResult:
    """The pipeline phase alone on ``n`` small images in one shard: its rate and peak RSS.

    The point is bounded memory: the analyze step streams a day batch by batch, so its peak
    must not grow with ``n``. The images are small so that 20,000 of them fit on a laptop disk
    and the run takes minutes; the models and the code path are the pipeline's own.
    """
    from trendscope.pipeline.analyze import Analyzer, staged_batches
    from trendscope.pipeline.ingest import ingest_day
    from trendscope.pipeline.shards import Shard

    config, _, shard_images = _bench_setup(n, workdir, device, config, megapixels)
    analyzer = Analyzer(config)
    analyzer.analyze([np.zeros((64, 64, 3), np.uint8)])  # models loaded, untimed
    asked = device or config.detector.device
    result = BenchResult(images=n, device=_device(analyzer, asked), batch_size=config.batch_size)
    result.megapixels = {"min": megapixels, "median": megapixels, "max": megapixels}
    _timed(result, "ingest", lambda: ingest_day(config, BENCH_LOCATION, BENCH_DAY))
    _, batches = staged_batches(config, BENCH_LOCATION, BENCH_DAY, Shard())
    result.setup = _analyzer_info(analyzer, config, len(batches))
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


def main(
    n: int,
    device: str | None,
    json_path: str | None,
    workdir: str,
    memory: bool = False,
    config: TrendscopeConfig | None = None,
) -> int:
    """Run the bench (or, with ``memory``, the pipeline-only memory run) under ``config``
    (default: the configured one) and report it; ``json_path`` gets the raw result."""
    run = run_memory if memory else run_bench
    result = run(n, Path(workdir), device, config)
    print(result.table())
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(asdict(result), indent=2) + "\n")
    return 0
