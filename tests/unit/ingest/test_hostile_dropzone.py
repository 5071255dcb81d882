"""A drop zone of hostile files through the real ingest step: every file gets a status and a
reason, the counts reconcile, and memory stays bounded (a decompression bomb is never decoded,
an oversized file is never read)."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import textwrap
import zlib
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image

from trendscope.pipeline.ingest import ingest_day
from trendscope.tables.paths import partition_path

DAY = date(2026, 11, 2)


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_bomb(side: int) -> bytes:
    """A valid grayscale PNG of ``side`` x ``side`` zero pixels: a few hundred KB on disk that
    would take ``side**2`` bytes decoded. Built row by row, so making it needs no memory either."""
    z = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def _photo_bytes(name: str, fmt: str) -> bytes:
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(getattr(data, name)()).save(buf, fmt)
    return buf.getvalue()


def _drop_zone(root: Path) -> Path:
    day_dir = root / "shibuya" / DAY.isoformat()
    day_dir.mkdir(parents=True)
    (day_dir / "bomb.png").write_bytes(png_bomb(12_000))  # 144 MP, over source.max_pixels (80 MP)
    with open(day_dir / "huge.jpg", "wb") as f:  # 60 MB of nothing (sparse), over the limit
        f.truncate(60 * 1024 * 1024)
    (day_dir / "empty.jpg").write_bytes(b"")
    (day_dir / "really-a-png.jpg").write_bytes(_photo_bytes("astronaut", "PNG"))  # wrong extension
    (day_dir / "photo.jpg").write_bytes(_photo_bytes("chelsea", "JPEG"))
    return root


def test_hostile_files_get_a_status_and_a_reason(config, tmp_path) -> None:
    _drop_zone(Path(config.source_root))
    result = ingest_day(config, "shibuya", DAY)
    assert result.counts["posts"] == 5
    assert result.counts["posts"] == sum(
        result.counts[s] for s in ("ok", "duplicate", "quarantined")
    )
    rows = {
        Path(r["source_uri"]).name: r
        for r in pq.read_table(
            partition_path(config.data_root, "images", "shibuya", DAY, area="staging")
        ).to_pylist()
    }
    assert rows["bomb.png"]["status"] == "quarantined"
    assert "144000000 pixels" in rows["bomb.png"]["reason"]  # refused from the header
    assert rows["huge.jpg"]["status"] == "quarantined"
    assert "file too large" in rows["huge.jpg"]["reason"]
    assert rows["empty.jpg"]["reason"] == "empty file"
    assert rows["really-a-png.jpg"]["status"] == "ok"
    assert rows["really-a-png.jpg"]["format"] == "PNG"
    assert rows["photo.jpg"]["status"] == "ok"


def test_memory_stays_bounded_on_hostile_input(tmp_path) -> None:
    """Peak RSS of a process ingesting a 144-megapixel bomb and a 60 MB file stays small."""
    root = _drop_zone(tmp_path / "dropzone")
    script = textwrap.dedent(
        f"""
        import json, resource
        from datetime import date
        from trendscope.config import load_config
        from trendscope.pipeline.ingest import ingest_day
        from trendscope.ingest.decode import decode_for_models  # noqa: F401  (imports counted)
        config = load_config(environ={{}}, overrides={{
            "data_dir": {str(tmp_path / "data")!r}, "source.path": {str(root)!r}}})
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = ingest_day(config, "shibuya", date(2026, 11, 2))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"grew_kib": after - before, "counts": result.counts}}))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["counts"]["quarantined"] == 3
    # decoding the bomb would need 144 MB and reading the big file 60 MB; neither happens
    assert out["grew_kib"] < 40 * 1024, out
