"""The one typed configuration of Trendscope.

Loaded from ``include/config/trendscope.yaml`` (or the file named by ``TRENDSCOPE_CONFIG``),
then overridden by environment variables. This is the only module that reads the environment.
Every validation error names the field, e.g. ``targets.cat.crop_threshold``.

Environment overrides:
  * ``TRENDSCOPE_CONFIG``     path of the YAML file
  * ``TRENDSCOPE_DATA_DIR``   ``data_dir``
  * ``TRENDSCOPE_SOURCE_DIR`` ``source.path``
  * ``TRENDSCOPE_MODELS_DIR`` ``models_dir``
  * ``TRENDSCOPE_EXECUTOR``   ``executor``
  * ``TRENDSCOPE_S3_ENDPOINT_URL`` ``storage.endpoint_url``
  * ``TRENDSCOPE__A__B=value`` any nested key ``a.b`` (value parsed as YAML)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "include" / "config" / "trendscope.yaml"

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_DNS_LABEL = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
_MODEL_REF = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}@[1-9][0-9]*$")  # a registry NAME@V
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the offending field(s)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(_Strict):
    """A place whose photos are analysed; its timezone decides which day a post belongs to."""

    slug: str
    name: str = ""
    timezone: str = "UTC"

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not _SLUG.match(v):
            raise ValueError("must be lowercase letters, digits, '-' or '_' (it is a path part)")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {v!r}") from exc
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class ScraperSelectors(_Strict):
    """CSS selectors that find a post and its parts in the rendered page (BeautifulSoup syntax)."""

    item: str = Field(min_length=1)  # one post
    image: str = "img"  # inside the item
    image_attr: Literal["src", "data-src", "srcset"] = "src"  # falls back to src when empty
    time: str = "time"  # inside the item
    time_attr: str | None = "datetime"  # None: read the element's text
    time_format: str | None = None  # strptime format for a text time; None: ISO 8601
    caption: str | None = None
    author: str | None = None
    link: str | None = None  # the post's own URL (href)
    next: str | None = None  # a "next page" link; None: scroll until no new items appear
    wait_for: str | None = None  # wait for this before reading the page (JavaScript-built pages)


class ScraperConfig(_Strict):
    """A gallery page scraped with headless Chromium (Selenium) and parsed with BeautifulSoup."""

    url_template: str = Field(min_length=1)  # with {location} and/or {date} (YYYY-MM-DD)
    selectors: ScraperSelectors
    max_pages: int = Field(default=20, ge=1)  # pages (or scroll rounds) per location-day
    max_posts: int = Field(default=500, ge=1)
    min_interval_s: float = Field(default=1.0, ge=0.0)  # between requests to one host
    concurrency: int = Field(default=1, ge=1, le=8)  # downloads at once per host
    retries: int = Field(default=3, ge=0, le=10)  # on 429 / 5xx, with exponential backoff
    backoff_s: float = Field(default=2.0, ge=0.0)
    page_timeout_s: float = Field(default=30.0, gt=0)
    scroll_pause_s: float = Field(default=1.0, ge=0.0)
    user_agent: str = "TrendscopeBot/0.1 (+https://github.com/trendscope/trendscope)"
    respect_robots: bool = True
    chromium_binary: str | None = None  # default: found on PATH (Debian: /usr/bin/chromium)
    chromedriver: str | None = None  # default: found on PATH (Debian: /usr/bin/chromedriver)

    @field_validator("url_template")
    @classmethod
    def _template(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        if "{location}" not in v and "{date}" not in v:
            raise ValueError("must contain {location} and/or {date}")
        return v


class SourceConfig(_Strict):
    """Where photos come from; every type ends as posts checked by the same ingest step.

    * ``local``: a drop zone directory or S3 prefix (``<root>/<location>/<date>/`` or
      ``posts.jsonl`` manifests);
    * ``scraper``: a gallery page per location-day; downloads land in ``path`` as a drop zone;
    * ``instaloader`` / ``gallery-dl``: those tools' output folders, one per location under
      ``path`` (``<path>/<location>/...``).
    """

    type: Literal["local", "scraper", "instaloader", "gallery-dl"] = "local"
    path: str = "data/dropzone"
    max_file_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    max_pixels: int = Field(default=80_000_000, gt=0)
    min_side: int = Field(default=32, ge=1)
    scraper: ScraperConfig | None = None

    @model_validator(mode="after")
    def _scraper_settings(self) -> SourceConfig:
        if self.type == "scraper" and self.scraper is None:
            raise ValueError("source.scraper is required when source.type is scraper")
        return self


class DetectorConfig(_Strict):
    """The object detector: the offline YOLOX-Nano ONNX model or any Ultralytics YOLO model."""

    backend: Literal["yolox-onnx", "ultralytics"] = "yolox-onnx"
    weights: str = "yolox_nano.onnx"
    name: str = ""
    input_size: int = Field(default=416, ge=32, le=4096)
    confidence: Probability = 0.3
    iou: Probability = 0.45
    max_detections: int = Field(default=100, gt=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @model_validator(mode="after")
    def _registered_needs_ultralytics(self) -> DetectorConfig:
        if self.registered and self.backend != "ultralytics":
            raise ValueError(
                f"weights: {self.weights!r} names a registered detector (trained with "
                "`trendscope train-detector`), which needs backend: ultralytics"
            )
        return self

    @property
    def registered(self) -> str | None:
        """``NAME@V`` when ``weights`` names a model in the registry, else None (a file)."""
        return self.weights if _MODEL_REF.match(self.weights) else None

    @property
    def model_name(self) -> str:
        return self.name or self.registered or Path(self.weights).stem


class ClassifierConfig(_Strict):
    """The fine-grained ImageNet classifier applied to crops and whole images (scenes)."""

    backend: Literal["efficientnet-lite0"] = "efficientnet-lite0"
    weights: str = "efficientnet_lite0.pth"
    name: str = "efficientnet_lite0"
    device: Literal["auto", "cpu", "cuda"] = "auto"


class TargetConfig(_Strict):
    """A detector class users care about, cropped and classified into fine labels.

    ``fine_labels`` maps each fine label to the ImageNet class names whose probabilities it sums;
    a plain list means each ImageNet name is its own fine label. ``classifier`` instead names a
    model trained for this target and kept in the registry (``NAME@VERSION``, see
    docs/training.md): its own label list gives the fine labels.
    """

    crop_threshold: Probability = 0.5
    fine_threshold: Probability = 0.2
    min_crop_pixels: int = Field(default=24, ge=1)
    crop_padding: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    fine_labels: dict[str, list[str]] = Field(default_factory=dict)
    classifier: str | None = None  # a registered classifier, NAME@VERSION

    @field_validator("classifier")
    @classmethod
    def _model_ref(cls, v: str | None) -> str | None:
        if v is not None and not _MODEL_REF.match(v):
            raise ValueError(
                f"{v!r} is not NAME@VERSION of a registered model (e.g. cat-breeds@3; see "
                "`trendscope models list`)"
            )
        return v

    @model_validator(mode="after")
    def _labels_or_model(self) -> TargetConfig:
        if not self.fine_labels and self.classifier is None:
            raise ValueError(
                "fine_labels: needs at least one fine label (or a registered classifier)"
            )
        return self

    @field_validator("fine_labels", mode="before")
    @classmethod
    def _list_to_map(cls, v: Any) -> Any:
        if isinstance(v, list):
            return {str(name): [str(name)] for name in v}
        return v

    @field_validator("fine_labels")
    @classmethod
    def _not_empty(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        if not v:
            raise ValueError("needs at least one fine label")
        if "other" in v:
            raise ValueError("'other' is reserved for crops under the fine threshold")
        for fine, names in v.items():
            if not names:
                raise ValueError(f"fine label {fine!r} maps to no ImageNet class")
        return v


class ScenesConfig(_Strict):
    """Coarse scene category of a whole image, from ImageNet class names to categories."""

    threshold: Probability = 0.25
    categories: dict[str, list[str]] = Field(default_factory=dict)


class TrendsConfig(_Strict):
    """How each day is compared with its own past (see ``trendscope.trends.compare``)."""

    include_scenes: bool = True
    window_days: int = Field(default=28, ge=1, le=366)
    min_images: int = Field(default=20, ge=1)
    min_baseline_images: int = Field(default=50, ge=1)
    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    min_delta: Probability = 0.02
    weekly_window: int = Field(default=4, ge=1, le=52)
    monthly_window: int = Field(default=3, ge=1, le=24)
    # who carries a trend (authors are the unit of evidence; docs/methodology.md)
    min_authors: int = Field(default=5, ge=1)  # fewest authors showing a rising label
    max_top_author_share: Probability = 0.5  # most of a rising label's images from one author
    new_min_images: int = Field(default=5, ge=1)  # support of a label never seen before
    new_min_authors: int = Field(default=3, ge=1)
    false_positive_rate: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.005  # detector's floor
    # the model of ordinary variation
    min_dispersion_units: int = Field(default=7, ge=2)  # fewer baseline days: default below
    default_icc: Annotated[float, Field(ge=0.0, lt=0.5)] = 0.01  # conservative dispersion
    weekly_rhythm: bool = True  # judge a day against its weekday when the window allows it
    weekly_min_weeks: int = Field(default=3, ge=1)  # baseline days of the same weekday needed
    recent_days: int = Field(default=4, ge=1, le=14)  # also test the last N days pooled (1: off)
    importance_weighted: bool = False  # trends_daily.weighted_share from the tags' importance


class EngagementConfig(_Strict):
    """Engagement (likes / followers) per label (``trendscope.trends.engagement``), in trends."""

    enabled: bool = True  # off: no engagement table
    window_days: int = Field(default=7, ge=2, le=366)  # the multi-day window beside the day
    min_posts: int = Field(default=5, ge=1)  # fewest rated posts with and without a label to test


class RegistryConfig(_Strict):
    """The model registry (``trendscope.models.registry``): trained models and their versions.

    ``root`` defaults to ``<data_dir>/registry``, so pods that reach the data reach it too.
    """

    root: str = "data/registry"  # a local folder or s3://bucket/prefix


class DedupConfig(_Strict):
    """Near-duplicates (re-encodes, resizes, reposts with a watermark) by perceptual hash."""

    max_distance: int = Field(default=6, ge=0, le=64)  # Hamming distance of 64-bit pHashes
    window_days: int = Field(default=7, ge=0, le=366)  # earlier days of the location compared


class QualityConfig(_Strict):
    """The write-audit-publish gate (Great Expectations suites in ``trendscope.quality``)."""

    volume_window_days: int = Field(default=14, ge=1, le=366)  # history for the usual volume
    volume_min_days: int = Field(default=3, ge=1)  # fewer published days: no volume check
    volume_min_ratio: Probability = 0.1  # a day under this share of the median is a warning


class AnalyzeConfig(_Strict):
    """How the analyze step feeds the models."""

    # JPEGs larger than twice this decode at a reduced DCT scale
    decode_max_side: int = Field(default=640, ge=64)
    workers: int = Field(
        default=2, ge=1, le=64
    )  # batches analysed at once; model threads = cores / workers


class ColoursConfig(_Strict):
    """Dominant colours of each cropped target (``trendscope.vision.colours``), in analyze."""

    enabled: bool = True  # off: no colors rows, no colour trends
    clusters: int = Field(default=4, ge=3, le=5)  # k of the k-means in CIELAB
    side: int = Field(default=24, ge=8, le=256)  # the box is shrunk to this many pixels a side
    iterations: int = Field(default=10, ge=1, le=100)  # at most this many k-means iterations
    method: Literal["centre", "grabcut"] = "centre"  # object pixels: centre weights or GrabCut


class StorageConfig(_Strict):
    """Object storage (when ``data_dir`` or ``source.path`` is ``s3://...``).

    Credentials are never configured here: boto3 takes them from the environment (a Kubernetes
    Secret or an Airflow connection exported to the worker) or the machine's role.
    """

    endpoint_url: str | None = None  # e.g. http://minio:9000 for MinIO
    region: str | None = None
    aws_conn_id: str | None = None  # Airflow connection with the keys (resolved when a task runs)
    # transient faults (HTTP 500/503, throttling, timeouts, refused connections) are retried
    # with backoff; what still fails after max_attempts tries fails the step naming the object
    max_attempts: int = Field(default=5, ge=1, le=20)  # tries of one request, the first included
    retry_mode: Literal["standard", "adaptive"] = "standard"  # adaptive: also slows when throttled
    connect_timeout_s: Annotated[float, Field(gt=0.0, le=300.0)] = 10.0
    read_timeout_s: Annotated[float, Field(gt=0.0, le=3600.0)] = 60.0  # a slower response: retried


class LocksConfig(_Strict):
    """The lease that keeps two runs of one location-day apart (``trendscope.tables.locks``).

    Every step of a run renews it when it starts, so ``ttl_minutes`` must outlast the longest
    step; a run that dies keeps the day until its lease expires (or ``trendscope unlock``).
    """

    ttl_minutes: int = Field(default=180, ge=1, le=7 * 24 * 60)
    wait_s: Annotated[float, Field(ge=0.0, le=3600.0)] = 60.0  # then the step fails (retried)


class RetentionConfig(_Strict):
    """What ``trendscope gc`` (and the ``trendscope_maintenance`` DAG) keeps: abandoned staging,
    validation results and Data Docs pages older than ``days`` go; published tables never."""

    days: int = Field(default=30, ge=1, le=3650)


class ShardingConfig(_Strict):
    """How a large location-day is split across analyze workers (pods, in production)."""

    max_images_per_shard: int = Field(default=2000, ge=1)
    max_shards: int = Field(default=16, ge=1, le=256)


class KubernetesConfig(_Strict):
    """The analyze (GPU) pods launched when ``executor`` is ``kubernetes``.

    Credentials never appear here: ``env_from_secrets`` names Kubernetes Secrets whose keys
    become environment variables in the pod (e.g. ``AWS_ACCESS_KEY_ID``). The pods read the
    resolved config from a ConfigMap named ``<config_map>-<hash of its content>``, so a config
    the cluster has not been given fails the pod visibly instead of running with another one.
    """

    namespace: str = "trendscope"
    image: str = "ghcr.io/trendscope/trendscope-worker-gpu:0.1.0"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    image_pull_secrets: list[str] = Field(default_factory=list)  # Secret names
    service_account: str = "trendscope-worker"
    automount_service_account_token: bool = False  # the step never calls the Kubernetes API
    kubernetes_conn_id: str = "kubernetes_default"
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, str]] = Field(default_factory=list)
    gpus: int = Field(default=1, ge=0, le=16)
    cpu: str = "4"
    memory: str = "16Gi"
    ephemeral_storage: str = "8Gi"  # requested and limit: /tmp, logs
    tmp_size_limit: str = "4Gi"  # sizeLimit of the /tmp emptyDir
    pool: str = "gpu"
    env_from_secrets: list[str] = Field(default_factory=list)
    config_map: str = Field(default="trendscope-config", pattern=_DNS_LABEL, max_length=52)
    run_as_user: int = Field(default=1000, ge=1)
    startup_timeout_seconds: int = Field(default=600, ge=10)
    active_deadline_seconds: int = Field(default=3600, ge=60)  # a shard running longer is killed
    keep_failed_pods: bool = True  # for `kubectl describe`/`logs`; succeeded pods are deleted

    @field_validator("tolerations")
    @classmethod
    def _tolerations(cls, v: list[dict[str, str]]) -> list[dict[str, str]]:
        allowed = {"key", "operator", "value", "effect", "tolerationSeconds"}
        for i, tol in enumerate(v):
            unknown = set(tol) - allowed
            if unknown:
                raise ValueError(f"toleration {i} has unknown keys {sorted(unknown)}")
        return v


class AirflowConfig(_Strict):
    """How the DAGs schedule, time out and alert (see the README's *Airflow* section)."""

    # A day's run starts once the day has ended in every configured location's timezone, plus
    # this many hours for late posts (a deferred sensor waits; a backfill of past days does not).
    late_hours: Annotated[float, Field(ge=0.0, le=48.0)] = 2.0
    # The day's run should have finished this many hours after the day ended in the last
    # location; later, a deadline alert is sent.
    deadline_hours: Annotated[float, Field(gt=0.0, le=168.0)] = 12.0
    retries: int = Field(default=2, ge=0, le=10)  # per task, with exponential backoff
    retry_delay_minutes: Annotated[float, Field(gt=0.0, le=120.0)] = 5.0  # the first retry's wait
    task_timeout_minutes: int = Field(default=60, ge=1)  # ingest, publish, trends, rollup tasks
    analyze_timeout_minutes: int = Field(default=120, ge=1)  # one analyze shard
    rollup_retries: int = Field(default=1, ge=0, le=5)


class AlertsConfig(_Strict):
    """Where failure alerts and the rising digest go (secrets live in the Airflow connection)."""

    notifier: Literal["none", "smtp"] = "none"
    smtp_conn_id: str = "smtp_default"  # host, port, login and password of the mail server
    to: list[str] = Field(default_factory=list)  # recipients
    from_email: str | None = None  # default: the connection's from_email or login
    report_url: str | None = None  # where the HTML report is served, linked from the digest
    on_failure: bool = True  # a message per failed task (location-day, step, error)
    rising_digest: bool = True  # after each daily run, the new rising labels (only when any)
    on_deadline: bool = True  # when a day's run misses airflow.deadline_hours

    @model_validator(mode="after")
    def _recipients(self) -> AlertsConfig:
        if self.notifier != "none" and not self.to:
            raise ValueError(f"to: notifier {self.notifier!r} needs at least one recipient")
        return self


class TrendscopeConfig(_Strict):
    """The whole configuration; see ``include/config/trendscope.yaml`` for a commented example."""

    data_dir: str = "data"
    models_dir: str = "models"
    executor: Literal["local", "kubernetes"] = "local"
    start_date: date = date(2026, 11, 2)
    batch_size: int = Field(default=8, ge=1, le=1024)
    source: SourceConfig = SourceConfig()
    locations: list[Location]
    detector: DetectorConfig = DetectorConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    targets: dict[str, TargetConfig] = Field(default_factory=dict)
    registry: RegistryConfig = RegistryConfig()
    scenes: ScenesConfig = ScenesConfig()
    trends: TrendsConfig = TrendsConfig()
    engagement: EngagementConfig = EngagementConfig()
    dedup: DedupConfig = DedupConfig()
    quality: QualityConfig = QualityConfig()
    analyze: AnalyzeConfig = AnalyzeConfig()
    colours: ColoursConfig = ColoursConfig()
    storage: StorageConfig = StorageConfig()
    locks: LocksConfig = LocksConfig()
    retention: RetentionConfig = RetentionConfig()
    sharding: ShardingConfig = ShardingConfig()
    kubernetes: KubernetesConfig = KubernetesConfig()
    airflow: AirflowConfig = AirflowConfig()
    alerts: AlertsConfig = AlertsConfig()

    @model_validator(mode="after")
    def _unique_locations(self) -> TrendscopeConfig:
        seen: set[str] = set()
        for loc in self.locations:
            if loc.slug in seen:
                raise ValueError(f"locations: slug {loc.slug!r} appears twice")
            seen.add(loc.slug)
        if not self.locations:
            raise ValueError("locations: at least one location is required")
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_step(self) -> TrendscopeConfig:
        longest = max(self.airflow.task_timeout_minutes, self.airflow.analyze_timeout_minutes)
        if self.locks.ttl_minutes <= longest:
            raise ValueError(
                f"locks.ttl_minutes: {self.locks.ttl_minutes} must exceed the longest step's "
                f"timeout ({longest} minutes, airflow.*_timeout_minutes): a step renews the "
                "day's lease only when it starts"
            )
        return self

    @model_validator(mode="after")
    def _pods_need_object_storage(self) -> TrendscopeConfig:
        if self.executor != "kubernetes":
            return self
        local = [
            f"{field}: {path!r} is not an s3:// path; executor kubernetes needs one the pods "
            "can reach"
            for field, path in (("data_dir", self.data_dir), ("source.path", self.source.path))
            if not path.startswith("s3://")
        ]
        if local:
            raise ValueError("; ".join(local))
        return self

    @model_validator(mode="before")
    @classmethod
    def _registry_beside_the_data(cls, data: Any) -> Any:
        if isinstance(data, dict):
            registry = data.get("registry") or {}
            if isinstance(registry, dict) and not registry.get("root"):
                root = f"{str(data.get('data_dir') or 'data').rstrip('/')}/registry"
                data = {**data, "registry": {**registry, "root": root}}
        return data

    @model_validator(mode="after")
    def _pods_reach_the_registry(self) -> TrendscopeConfig:
        used = [f"targets.{n}.classifier" for n, t in self.targets.items() if t.classifier]
        if self.detector.registered:
            used.append("detector.weights")
        if self.executor == "kubernetes" and used and not self.registry.root.startswith("s3://"):
            raise ValueError(
                f"registry.root: {self.registry.root!r} is not an s3:// path; executor "
                f"kubernetes needs one the pods can reach ({', '.join(used)} name a model in it)"
            )
        return self

    # --- resolved paths -------------------------------------------------------------------
    def location(self, slug: str) -> Location:
        """The configured location ``slug``; a clear error when it is not configured."""
        for loc in self.locations:
            if loc.slug == slug:
                return loc
        known = ", ".join(loc.slug for loc in self.locations)
        raise ConfigError(f"location {slug!r} is not configured (known: {known})")

    @property
    def location_slugs(self) -> list[str]:
        return [loc.slug for loc in self.locations]

    def resolve(self, path: str) -> str:
        """A path from the config, relative ones taken from the current directory."""
        if "://" in path or os.path.isabs(path):
            return path.rstrip("/") if path.startswith("s3://") else path
        return str(Path.cwd() / path)

    @property
    def data_root(self) -> str:
        return self.resolve(self.data_dir)

    @property
    def source_root(self) -> str:
        return self.resolve(self.source.path)

    def model_path(self, weights: str) -> str:
        if "://" in weights or os.path.isabs(weights) or os.sep in weights:
            return self.resolve(weights)
        return str(Path(self.resolve(self.models_dir)) / weights)


def _format_errors(exc: ValidationError, origin: str) -> str:
    lines = [f"invalid Trendscope config ({origin}):"]
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see include/config/trendscope.yaml)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"  {field}: {msg}")
    return "\n".join(lines)


def _set_nested(data: dict[str, Any], dotted: list[str], value: Any) -> None:
    node = data
    for key in dotted[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[dotted[-1]] = value


_SIMPLE_ENV = {
    "TRENDSCOPE_DATA_DIR": ["data_dir"],
    "TRENDSCOPE_SOURCE_DIR": ["source", "path"],
    "TRENDSCOPE_MODELS_DIR": ["models_dir"],
    "TRENDSCOPE_EXECUTOR": ["executor"],
    "TRENDSCOPE_S3_ENDPOINT_URL": ["storage", "endpoint_url"],
}


def apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Overlay ``TRENDSCOPE_*`` environment variables onto raw config data."""
    for var, path in _SIMPLE_ENV.items():
        if environ.get(var):
            _set_nested(data, path, environ[var])
    for var, raw in environ.items():
        if var.startswith("TRENDSCOPE__"):
            dotted = [p.lower() for p in var[len("TRENDSCOPE__") :].split("__") if p]
            if dotted:
                _set_nested(data, dotted, yaml.safe_load(raw))
    return data


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("TRENDSCOPE_CONFIG") or DEFAULT_CONFIG_PATH)


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TrendscopeConfig:
    """Read, overlay and validate the config; raise :class:`ConfigError` naming bad fields."""
    environ = os.environ if environ is None else environ
    cfg_path = Path(path) if path else config_path(environ)
    try:
        # libyaml's safe loader when built in: the DAG files load this at every parse, and the
        # pure-Python one takes 0.5 s for 500 locations
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        raw = yaml.load(cfg_path.read_text(encoding="utf-8"), Loader=loader) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {cfg_path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {cfg_path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {cfg_path} must hold a mapping at the top level")
    data = apply_env(raw, environ)
    for key, value in (overrides or {}).items():
        _set_nested(data, key.split("."), value)
    try:
        config = TrendscopeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, str(cfg_path))) from None
    from trendscope.tables import storage  # the config picks the process's storage endpoint

    storage.use(config.storage)
    return config
