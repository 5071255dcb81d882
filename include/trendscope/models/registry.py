"""The model registry: trained models, each version immutable, on local disk or S3.

A registry is a folder (``/path``, ``file:///path`` or ``s3://bucket/prefix``)::

    <root>/<name>/v<N>/claim.json     who took version N (created only if absent)
    <root>/<name>/v<N>/<files>        the model file and its companions (labels, evaluation ...)
    <root>/<name>/v<N>/version.json   the version's record, written last (created only if absent)
    <root>/<name>/promoted.json       which version is promoted, with the history of promotions

``register`` takes the next version number by creating its ``claim.json`` only where none
exists (local: ``O_CREAT | O_EXCL``; S3: a PUT with ``If-None-Match: *``), so two trainings
registering at once get two numbers; it then uploads the files and writes ``version.json``
last. A version without its record (a register that died half way) is invisible and its number
is never reused. A record is never replaced: versions are immutable. Every file's sha256 is in
the record and is checked whenever :meth:`Registry.local_path` hands the file out, so a model
changed or damaged after registration is refused, never silently used.

The format is plain JSON (no MLflow; see docs/training.md for why).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trendscope.models.fetch import file_sha256
from trendscope.tables import storage
from trendscope.tables.paths import join

if TYPE_CHECKING:
    from trendscope.config import TrendscopeConfig

KINDS = ("classifier", "detector")
RECORD = "version.json"
CLAIM = "claim.json"
PROMOTED = "promoted.json"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_VERSION_DIR = re.compile(r"^v([1-9][0-9]*)$")


class RegistryError(LookupError, ValueError):
    """A model, version or file the registry does not hold, or one that fails its checksum."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered, immutable version of a model."""

    name: str
    version: int
    kind: str
    sha256: str
    files: dict[str, str]
    labels: list[str]
    params: dict
    metrics: dict
    data_fingerprint: str
    created_at: str
    checksums: dict[str, str] = field(default_factory=dict)  # role -> sha256 of that file

    @property
    def ref(self) -> str:
        """``name@version``, the text a config or a command names this version by."""
        return f"{self.name}@{self.version}"

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> ModelVersion:
        try:
            raw = json.loads(data)
            return cls(**raw)
        except (ValueError, TypeError) as exc:
            raise RegistryError(f"damaged registry record {where}: {exc}") from exc


def parse_ref(text: str) -> tuple[str, int | None]:
    """``"name@3"`` -> ``("name", 3)``; ``"name"`` -> ``("name", None)``.

    Raises:
        ValueError: the text is not a model name with an optional positive ``@version``.
    """
    name, at, version = text.strip().partition("@")
    if not _NAME.match(name):
        raise ValueError(
            f"not a model reference: {text!r} (expected NAME or NAME@VERSION; a name is "
            "lowercase letters, digits, '-', '_' or '.')"
        )
    if not at:
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise ValueError(f"not a model reference: {text!r} (the version must be 1, 2, ...)")
    return name, int(version)


def data_fingerprint(root: Path) -> str:
    """A sha256 over the sorted (relative path, size, sha256) of every file under ``root``.

    Two trainings on the same data have the same fingerprint; a renamed, added, removed or
    changed file changes it. Hidden files (``.DS_Store`` and the like) are left out.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"training data folder not found: {root}")
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    for path in files:
        rel = path.relative_to(root).as_posix()
        digest.update(f"{rel}\0{path.stat().st_size}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _create_exclusive(path: str, data: bytes) -> bool:
    """Write ``data`` to ``path`` only if nothing is there; False if something already is."""
    if storage.is_s3(path):
        from botocore.exceptions import ClientError

        bucket, key = storage._split(path)
        with storage._errors("write", path, missing=False):
            try:
                storage._client().put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status in (409, 412):
                    return False
                raise
        return True
    target = storage._local(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # written aside, then linked into place: link() fails if the name exists, and a reader
    # never sees a half-written record
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


class Registry:
    """Trained models under one root: register, look up, fetch (checked), promote."""

    def __init__(self, root: str, *, cache_dir: Path | None = None) -> None:
        """Args:
        root: a local folder or ``s3://bucket/prefix``.
        cache_dir: where files of an S3 registry are downloaded to (default: a folder in the
            system temp directory); a cached file is reused only while its sha256 matches.
        """
        if not root:
            raise ValueError("registry root is empty (config: registry.root)")
        self.root = root.rstrip("/") if storage.is_s3(root) else str(storage._local(root))
        self.cache_dir = cache_dir or Path(tempfile.gettempdir()) / "trendscope-registry"

    def __repr__(self) -> str:
        return f"Registry({self.root!r})"

    # --- paths ----------------------------------------------------------------------------
    def _version_dir(self, name: str, version: int) -> str:
        return join(self.root, name, f"v{version}")

    def _versions_seen(self, name: str) -> list[int]:
        """Every version number taken for ``name`` (claimed, whether finished or not)."""
        if storage.is_s3(self.root):
            numbers = set()
            prefix = join(self.root, name) + "/"
            for path in storage.list_files(join(self.root, name)):
                match = _VERSION_DIR.match(path[len(prefix) :].split("/", 1)[0])
                if match:
                    numbers.add(int(match.group(1)))
            return sorted(numbers)
        folder = Path(join(self.root, name))
        if not folder.is_dir():
            return []
        return sorted(
            int(m.group(1)) for p in folder.iterdir() if (m := _VERSION_DIR.match(p.name))
        )

    def _names(self) -> list[str]:
        if storage.is_s3(self.root):
            prefix = self.root + "/"
            names = {p[len(prefix) :].split("/", 1)[0] for p in storage.list_files(self.root)}
            return sorted(n for n in names if _NAME.match(n))
        root = Path(self.root)
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.is_dir() and _NAME.match(p.name))

    # --- writing --------------------------------------------------------------------------
    def register(
        self,
        kind: str,
        name: str,
        files: dict[str, Path],
        *,
        labels: list[str],
        params: dict,
        metrics: dict,
        data_fingerprint: str,
    ) -> ModelVersion:
        """Store ``files`` as the next version of ``name``; returns the new, immutable version.

        Args:
            kind: ``classifier`` or ``detector``.
            name: the model's name (lowercase letters, digits, ``-``, ``_``, ``.``).
            files: role -> local file; role ``model`` is the main file (its sha256 is the
                version's ``sha256``). Files keep their base names, which must differ.
            labels: class names in the model's output order.
            params, metrics: JSON-serialisable training parameters and holdout metrics.
            data_fingerprint: :func:`data_fingerprint` of the training data.
        """
        if kind not in KINDS:
            raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
        parse_ref(name)
        if "@" in name:
            raise ValueError(f"name: {name!r} must not carry a version")
        if "model" not in files:
            raise ValueError("files: the role 'model' (the main model file) is required")
        names = [Path(p).name for p in files.values()]
        if len(set(names)) != len(names):
            raise ValueError(f"files: two roles share a file name ({sorted(names)})")
        if any(n in (RECORD, CLAIM) for n in names):
            raise ValueError(f"files: {RECORD} and {CLAIM} are the registry's own names")
        if not labels:
            raise ValueError("labels: a model needs at least one class name")
        for role, path in files.items():
            if not Path(path).is_file():
                raise FileNotFoundError(f"files[{role!r}]: not a file: {path}")
        try:  # fail before anything is written
            json.dumps({"params": params, "metrics": metrics})
        except TypeError as exc:
            raise ValueError(f"params/metrics must be JSON-serialisable: {exc}") from exc
        checksums = {role: file_sha256(Path(p)) for role, p in files.items()}

        version = max(self._versions_seen(name), default=0) + 1
        claim = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "at": _now()})
        while not _create_exclusive(join(self._version_dir(name, version), CLAIM), claim.encode()):
            version += 1  # another registration took it meanwhile
        folder = self._version_dir(name, version)
        for path in files.values():
            storage.write_bytes_atomic(Path(path).read_bytes(), join(folder, Path(path).name))
        mv = ModelVersion(
            name=name,
            version=version,
            kind=kind,
            sha256=checksums["model"],
            files={role: Path(p).name for role, p in files.items()},
            labels=[str(label) for label in labels],
            params=params,
            metrics=metrics,
            data_fingerprint=data_fingerprint,
            created_at=_now(),
            checksums=checksums,
        )
        if not _create_exclusive(join(folder, RECORD), mv.to_json()):
            raise RegistryError(f"{mv.ref} already has a record in {self.root}; left untouched")
        return mv

    def promote(self, ref: str) -> ModelVersion:
        """Make ``name@version`` the version a bare ``name`` means; returns it."""
        name, version = parse_ref(ref)
        if version is None:
            raise ValueError(f"promote needs NAME@VERSION, got {ref!r}")
        mv = self.get(ref)
        path = join(self.root, name, PROMOTED)
        history: list[dict[str, Any]] = []
        with contextlib.suppress(FileNotFoundError):
            history = json.loads(storage.read_bytes(path)).get("history", [])
        history.append({"version": version, "at": _now()})
        record = {"version": version, "history": history}
        storage.write_bytes_atomic(json.dumps(record, indent=2).encode(), path)
        return mv

    # --- reading --------------------------------------------------------------------------
    def _record(self, name: str, version: int) -> ModelVersion | None:
        path = join(self._version_dir(name, version), RECORD)
        try:
            data = storage.read_bytes(path)
        except FileNotFoundError:
            return None
        mv = ModelVersion.from_json(data, path)
        if (mv.name, mv.version) != (name, version):
            raise RegistryError(f"registry record {path} names {mv.ref}, not {name}@{version}")
        return mv

    def list(self, name: str | None = None) -> list[ModelVersion]:
        """Every finished version (of ``name``, or of every model), by name then version."""
        names = [name] if name is not None else self._names()
        out = []
        for n in names:
            for version in self._versions_seen(n):
                mv = self._record(n, version)
                if mv is not None:
                    out.append(mv)
        return out

    def promoted(self, name: str) -> ModelVersion | None:
        """The promoted version of ``name``, or None if none was promoted."""
        try:
            record = json.loads(storage.read_bytes(join(self.root, name, PROMOTED)))
        except FileNotFoundError:
            return None
        return self.get(f"{name}@{int(record['version'])}")

    def get(self, ref: str) -> ModelVersion:
        """``name@3``: that version; a bare ``name``: the promoted version, else the latest.

        Raises:
            RegistryError: no such model or version (the message lists what there is).
        """
        name, version = parse_ref(ref)
        if version is None:
            promoted = self.promoted(name)
            if promoted is not None:
                return promoted
            versions = self.list(name)
            if not versions:
                raise RegistryError(f"no model {name!r} in the registry {self.root}")
            return versions[-1]
        mv = self._record(name, version)
        if mv is None:
            known = ", ".join(v.ref for v in self.list(name)) or "none"
            raise RegistryError(
                f"model {ref!r} is not in the registry {self.root} (versions of {name!r}: {known})"
            )
        return mv

    def local_path(self, mv: ModelVersion, role: str = "model") -> Path:
        """A local copy of one of the version's files, its sha256 checked against the record.

        Local registries hand out the file itself; S3 ones download it once into ``cache_dir``.

        Raises:
            RegistryError: the version has no such role, or the file fails its checksum.
        """
        if role not in mv.files:
            raise RegistryError(f"{mv.ref} has no file for role {role!r} (has {sorted(mv.files)})")
        expected = mv.checksums.get(role) or (mv.sha256 if role == "model" else None)
        source = join(self._version_dir(mv.name, mv.version), mv.files[role])
        if storage.is_s3(self.root):
            bucket_prefix = self.root[len("s3://") :]
            local = self.cache_dir / bucket_prefix / mv.name / f"v{mv.version}" / mv.files[role]
            if not (local.is_file() and expected and file_sha256(local) == expected):
                storage.write_bytes_atomic(storage.read_bytes(source), str(local))
        else:
            local = Path(source)
            if not local.is_file():
                raise RegistryError(f"{mv.ref}: file {source} is missing from the registry")
        if expected and (actual := file_sha256(local)) != expected:
            raise RegistryError(
                f"{mv.ref}: {mv.files[role]} has sha256 {actual[:12]}..., the registry recorded "
                f"{expected[:12]}...: the file was changed or damaged after registration"
            )
        return local


def target_models(config: TrendscopeConfig) -> dict[str, ModelVersion]:
    """The registered classifier of each target whose config names one (``classifier:``).

    Raises:
        RegistryError: a named model that is not in the registry, or is not a classifier; the
            message names the config field and the reference.
    """
    named = {t: c.classifier for t, c in config.targets.items() if c.classifier}
    if not named:
        return {}
    registry = Registry(config.resolve(config.registry.root))
    out = {}
    for target, ref in named.items():
        field_name = f"targets.{target}.classifier"
        try:
            mv = registry.get(ref)
        except RegistryError as exc:
            raise RegistryError(f"{field_name}: {exc}") from None
        if mv.kind != "classifier":
            raise RegistryError(f"{field_name}: {ref} is a {mv.kind}, not a classifier")
        out[target] = mv
    return out


def target_fine_labels(config: TrendscopeConfig) -> dict[str, list[str]]:
    """Each target's fine labels: its registered classifier's label list, else the configured
    ImageNet groups."""
    models = target_models(config)
    return {
        t: list(models[t].labels) if t in models else sorted(c.fine_labels)
        for t, c in config.targets.items()
    }
