"""The reduced decode for the hash keeps real photos' hashes: same as before, near a full decode.

Ingest hashes a JPEG from its luminance channel decoded at a reduced DCT scale
(``draft("L")``). On real photos its hash must equal the former RGB draft decode's (or differ by
2 bits, rarely) and stay within a few bits of a full decode's, so reposts keep matching the
hashes already published in the window. A file is decoded once for the header and the hash.
"""

from __future__ import annotations

import io
from collections import Counter

import imagehash
import pytest
from PIL import Image, ImageFile, ImageOps

from trendscope.config import SourceConfig
from trendscope.ingest.inspect import hamming, inspect_bytes, luminance8, perceptual_hash
from trendscope.photos import SAMPLE_PHOTOS, sample_photo


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _hash_rgb(data: bytes, draft: bool) -> str:
    """The former hash: RGB decode (at the draft scale or in full), then 8-bit luminance."""
    with Image.open(io.BytesIO(data)) as img:
        if draft:
            img.draft("RGB", (128, 128))
        img.load()
        return str(imagehash.phash(luminance8(ImageOps.exif_transpose(img))))


@pytest.fixture(scope="module")
def distances() -> dict[str, Counter]:
    """Bit distances over the packaged photos, native size and 3x (1/8 DCT scale), q85 and q50."""
    out: dict[str, Counter] = {"former draft": Counter(), "full decode": Counter()}
    for name in SAMPLE_PHOTOS:
        photo = Image.fromarray(sample_photo(name)).convert("RGB")
        for scale in (1, 3):
            img = photo.resize((photo.width * scale, photo.height * scale)) if scale > 1 else photo
            for quality in (85, 50):
                data = _jpeg(img, quality)
                h = perceptual_hash(data)
                out["former draft"][hamming(h, _hash_rgb(data, draft=True))] += 1
                out["full decode"][hamming(h, _hash_rgb(data, draft=False))] += 1
    return out


def test_same_hash_as_the_former_rgb_draft_decode(distances) -> None:
    d = distances["former draft"]
    assert sum(d.values()) == 4 * len(SAMPLE_PHOTOS)
    assert max(d) <= 2 and d[0] >= 0.95 * sum(d.values()), d


def test_within_a_few_bits_of_a_full_decode(distances) -> None:
    d = distances["full decode"]  # measured: 34 of 40 identical, 6 at 2 bits (the former too)
    assert max(d) <= 4 and d[0] >= 0.75 * sum(d.values()), d


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_file_is_decoded_once(fmt: str, monkeypatch) -> None:
    """The header check and the hash share one decode (a PNG's was decoded twice before)."""
    decodes = []
    load = ImageFile.ImageFile.load

    def counting_load(self):
        if self.tile:
            decodes.append(self.format)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    buf = io.BytesIO()
    Image.fromarray(sample_photo("coffee")).save(buf, fmt)
    insp = inspect_bytes(buf.getvalue(), SourceConfig())
    assert insp.ok and decodes == [fmt]
