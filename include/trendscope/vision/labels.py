"""Label vocabularies: COCO-80 for the detectors, ImageNet-1k for the classifier."""

from __future__ import annotations

import difflib
import importlib.util
import re
from functools import cache
from pathlib import Path

COCO80: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

_RANGE = re.compile(r"^#(\d+)-(\d+)$")


def _timm_info_dir() -> Path:
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("timm is not installed; it ships the ImageNet class names")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "_info"


@cache
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names (first lemma of each synset, in class-index order)."""
    info = _timm_info_dir()
    synsets = (info / "imagenet_synsets.txt").read_text().split()
    lemmas = {}
    for line in (info / "imagenet_synset_to_lemma.txt").read_text().splitlines():
        wnid, _, names = line.partition("\t")
        lemmas[wnid] = names.split(",")[0].strip()
    labels = tuple(lemmas[s] for s in synsets)
    if len(labels) != 1000:
        raise ValueError(f"expected 1000 ImageNet classes, found {len(labels)}")
    return labels


def resolve_names(entries: list[str], labels: tuple[str, ...]) -> list[int]:
    """Sorted class indices for names or ``#a-b`` ranges (inclusive) in ``labels``.

    Names match exactly and case-sensitively; a repeated name gives all its indices.

    Raises:
        ValueError: An unknown name (with close matches suggested) or a bad range.
    """
    index: dict[str, list[int]] = {}
    for i, name in enumerate(labels):
        index.setdefault(name, []).append(i)
    out: list[int] = []
    for entry in entries:
        m = _RANGE.match(entry)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if not 0 <= lo <= hi < len(labels):
                raise ValueError(
                    f"index range {entry!r} must be '#a-b' with 0 <= a <= b <= {len(labels) - 1}"
                )
            out.extend(range(lo, hi + 1))
        elif entry in index:
            out.extend(index[entry])
        else:
            close = difflib.get_close_matches(entry, list(index), n=3)
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            raise ValueError(f"unknown class name {entry!r}{hint}")
    return sorted(set(out))


def resolve_imagenet(entries: list[str]) -> list[int]:
    """ImageNet class indices for names or ``#a-b`` ranges."""
    return resolve_names(entries, imagenet_labels())
