"""The model registry on a local folder and on S3 (a real S3 API server on localhost)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from s3_faults import CREDENTIALS, moto_server
from trendscope.models.fetch import file_sha256
from trendscope.models.registry import (
    ModelVersion,
    Registry,
    RegistryError,
    _create_exclusive,
    data_fingerprint,
    parse_ref,
)
from trendscope.tables import storage


@pytest.fixture
def model_files(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "trained"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"\x08\x07onnx-bytes" * 100)
    (folder / "labels.txt").write_text("bag\nshoe\n")
    return {"model": folder / "model.onnx", "labels": folder / "labels.txt"}


def _register(reg: Registry, files: dict[str, Path], name: str = "bags", top1: float = 0.9):
    return reg.register(
        "classifier",
        name,
        files,
        labels=["bag", "shoe"],
        params={"epochs": 2, "imgsz": 96},
        metrics={"top1": top1},
        data_fingerprint="f" * 64,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cat-breeds@3", ("cat-breeds", 3)),
        ("cat-breeds", ("cat-breeds", None)),
        (" fashion_mnist.v2@12 ", ("fashion_mnist.v2", 12)),
        ("cat@0", ValueError),
        ("cat@x", ValueError),
        ("Cat@1", ValueError),
        ("a/b@1", ValueError),
        ("", ValueError),
    ],
)
def test_parse_ref(text, expected) -> None:
    if expected is ValueError:
        with pytest.raises(ValueError, match="model reference"):
            parse_ref(text)
    else:
        assert parse_ref(text) == expected


def test_register_get_list_and_promote(tmp_path, model_files) -> None:
    reg = Registry(str(tmp_path / "registry"))
    v1 = _register(reg, model_files, top1=0.8)
    v2 = _register(reg, model_files, top1=0.9)
    other = _register(reg, model_files, name="shoes")

    assert (v1.ref, v2.ref, other.ref) == ("bags@1", "bags@2", "shoes@1")
    assert v1.sha256 == file_sha256(model_files["model"])
    assert v1.files == {"model": "model.onnx", "labels": "labels.txt"}
    assert [mv.ref for mv in reg.list()] == ["bags@1", "bags@2", "shoes@1"]
    assert [mv.ref for mv in reg.list("bags")] == ["bags@1", "bags@2"]
    assert reg.get("bags@1") == v1
    assert reg.get("bags").ref == "bags@2"  # nothing promoted: the latest
    assert reg.promoted("bags") is None

    assert reg.promote("bags@1") == v1
    assert reg.get("bags") == v1  # promoted wins over latest
    assert reg.promoted("bags") == v1
    history = json.loads((tmp_path / "registry" / "bags" / "promoted.json").read_text())
    assert [h["version"] for h in history["history"]] == [1]

    # a new registration opens a new version and never touches an old one
    record = (tmp_path / "registry" / "bags" / "v1" / "version.json").read_bytes()
    v3 = _register(reg, model_files, top1=0.95)
    assert v3.version == 3
    assert (tmp_path / "registry" / "bags" / "v1" / "version.json").read_bytes() == record
    assert reg.get("bags") == v1  # still the promoted one

    path = reg.local_path(v3)
    assert path.read_bytes() == model_files["model"].read_bytes()
    assert reg.local_path(v3, "labels").read_text() == "bag\nshoe\n"


def test_unknown_models_and_versions_are_named(tmp_path, model_files) -> None:
    reg = Registry(str(tmp_path / "registry"))
    _register(reg, model_files)
    with pytest.raises(RegistryError, match=r"'bags@7' is not in the registry .*bags@1"):
        reg.get("bags@7")
    with pytest.raises(RegistryError, match="no model 'nope'"):
        reg.get("nope")
    with pytest.raises(RegistryError, match="no file for role 'scores'"):
        reg.local_path(reg.get("bags@1"), "scores")
    with pytest.raises(ValueError, match="NAME@VERSION"):
        reg.promote("bags")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "segmenter"}, "kind: 'segmenter'"),
        ({"name": "Bad Name"}, "model reference"),
        ({"files": {}}, "role 'model'"),
        ({"labels": []}, "at least one class"),
        ({"params": {"when": object()}}, "JSON-serialisable"),
    ],
)
def test_bad_registrations_write_nothing(tmp_path, model_files, kwargs, message) -> None:
    reg = Registry(str(tmp_path / "registry"))
    args = {
        "kind": "classifier",
        "name": "bags",
        "files": model_files,
        "labels": ["a"],
        "params": {},
        "metrics": {},
        "data_fingerprint": "x",
    }
    args.update(kwargs)
    kind, name, files = args.pop("kind"), args.pop("name"), args.pop("files")
    with pytest.raises(ValueError, match=message):
        reg.register(kind, name, files, **args)
    assert not (tmp_path / "registry").exists()


def test_a_changed_model_file_is_refused(tmp_path, model_files) -> None:
    reg = Registry(str(tmp_path / "registry"))
    mv = _register(reg, model_files)
    stored = tmp_path / "registry" / "bags" / "v1" / "model.onnx"
    stored.write_bytes(b"tampered")
    with pytest.raises(RegistryError, match="changed or damaged after registration"):
        reg.local_path(mv)


def test_a_half_finished_version_is_invisible_and_its_number_not_reused(
    tmp_path, model_files
) -> None:
    reg = Registry(str(tmp_path / "registry"))
    _register(reg, model_files)
    crashed = tmp_path / "registry" / "bags" / "v2"
    crashed.mkdir()
    (crashed / "claim.json").write_text("{}")  # a register that died before its record
    assert [mv.ref for mv in reg.list("bags")] == ["bags@1"]
    assert _register(reg, model_files).version == 3


def test_concurrent_registrations_get_distinct_versions(tmp_path, model_files) -> None:
    reg = Registry(str(tmp_path / "registry"))
    refs: list[str] = []
    barrier = threading.Barrier(4)

    def one() -> None:
        barrier.wait()
        refs.append(_register(reg, model_files).ref)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(refs) == ["bags@1", "bags@2", "bags@3", "bags@4"]
    assert [mv.version for mv in reg.list("bags")] == [1, 2, 3, 4]


def test_data_fingerprint_follows_content_names_and_files(tmp_path) -> None:
    root = tmp_path / "data"
    (root / "bag").mkdir(parents=True)
    (root / "bag" / "a.png").write_bytes(b"1")
    (root / "shoe").mkdir()
    (root / "shoe" / "b.png").write_bytes(b"2")
    first = data_fingerprint(root)
    (root / ".DS_Store").write_bytes(b"junk")  # hidden files do not count
    assert data_fingerprint(root) == first
    (root / "shoe" / "b.png").write_bytes(b"3")
    changed = data_fingerprint(root)
    (root / "shoe" / "b.png").rename(root / "bag" / "b.png")  # relabelled: same bytes
    assert len({first, changed, data_fingerprint(root)}) == 3
    with pytest.raises(FileNotFoundError, match="training data folder"):
        data_fingerprint(tmp_path / "missing")


def test_record_round_trips() -> None:
    mv = ModelVersion("a", 1, "detector", "s", {"model": "m.pt"}, ["x"], {}, {}, "d", "t")
    assert ModelVersion.from_json(mv.to_json(), "here") == mv
    with pytest.raises(RegistryError, match="damaged registry record here"):
        ModelVersion.from_json(b"{not json", "here")


@pytest.fixture
def s3_endpoint(monkeypatch):
    """A real S3 API server on localhost (moto) with the bucket ``lake``; storage pointed at it."""
    for var, value in CREDENTIALS.items():
        monkeypatch.setenv(var, value)
    with moto_server() as endpoint:
        storage.configure(endpoint, "us-east-1")
        storage._client().create_bucket(Bucket="lake")
        yield endpoint
    storage.configure(None, None)


def test_s3_registry(s3_endpoint, tmp_path, model_files) -> None:
    reg = Registry("s3://lake/models/", cache_dir=tmp_path / "cache")
    v1 = _register(reg, model_files)
    v2 = _register(reg, model_files, top1=0.97)
    assert (v1.ref, v2.ref) == ("bags@1", "bags@2")
    assert storage.exists("s3://lake/models/bags/v2/version.json")
    reg.promote("bags@1")
    fresh = Registry("s3://lake/models", cache_dir=tmp_path / "cache")
    assert [mv.ref for mv in fresh.list()] == ["bags@1", "bags@2"]
    assert fresh.get("bags") == v1
    assert fresh.get("bags@2").metrics == {"top1": 0.97}

    local = fresh.local_path(v2)
    assert local.is_relative_to(tmp_path / "cache")
    assert local.read_bytes() == model_files["model"].read_bytes()
    local.write_bytes(b"damaged cache")  # a damaged cached copy is fetched again
    assert fresh.local_path(v2).read_bytes() == model_files["model"].read_bytes()

    storage.write_bytes_atomic(b"tampered", "s3://lake/models/bags/v2/model.onnx")
    local.unlink()
    with pytest.raises(RegistryError, match="changed or damaged"):
        fresh.local_path(v2)


def test_s3_version_claims_are_exclusive(s3_endpoint, tmp_path, model_files) -> None:
    claim = "s3://lake/models/bags/v1/claim.json"
    assert _create_exclusive(claim, b"first")
    assert not _create_exclusive(claim, b"second")  # If-None-Match: * refused the PUT
    assert storage.read_bytes(claim) == b"first"
    reg = Registry("s3://lake/models", cache_dir=tmp_path / "cache")
    assert _register(reg, model_files).ref == "bags@2"  # the claimed number is skipped
    assert [mv.ref for mv in reg.list("bags")] == ["bags@2"]
