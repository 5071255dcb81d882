"""Dominant colours of a detected object: its pixels, k-means in CIELAB, named colour families.

Colours are measured on the object's box, not the whole crop: the box is shrunk to at most
``side`` pixels a side (area averaging), each pixel is weighted by a Gaussian centred on the
box (``sigma`` of its half-size), and a weighted k-means in CIELAB (k-means++ seeding with a
fixed seed, so the same pixels always give the same colours) finds ``clusters`` colours. Each
cluster is named by the nearest colour of :data:`PALETTE` (CSS4 colours plus a few dark and
muted shades CSS4 lacks) in CIELAB, and that name belongs to one of the :data:`FAMILIES`.

Why centre weighting and not a foreground mask: a detector's box is tight around the object,
so its centre is object and its corners are background; the weighting costs nothing, whereas
GrabCut seeded by the box costs several milliseconds per crop (``benchmarks/bench_colours.py``
measures both) and is available as ``method="grabcut"`` for objects that fill their box poorly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from trendscope.tables.schemas import COLOUR_FAMILIES

Method = Literal["centre", "grabcut"]

FAMILIES = COLOUR_FAMILIES
"""The basic colour families every palette name belongs to (the labels of colour trends)."""

# name -> (sRGB hex, family). The CSS4 colours (the names and values of matplotlib's
# ``CSS4_COLORS``, without the grey spellings and the aliases cyan = aqua, fuchsia = magenta),
# grouped into families by hand after the usual CSS colour groups, plus EXTRA_NAMES: dark and
# muted shades that photos of leather, fabric and fur are full of and CSS4 lacks (without them
# a dark brown reads gray). CSS "brown" (#A52A2A) is left out: it is a dark red, and would
# name dark reds "brown"; "chocolate" and "sandybrown" are saturated light oranges and count as
# orange (brown here is the darker, greyer shades: sienna, saddlebrown, coffee...).
_PALETTE_BY_FAMILY: dict[str, dict[str, str]] = {
    "red": {
        "indianred": "#CD5C5C", "crimson": "#DC143C", "red": "#FF0000",
        "firebrick": "#B22222", "darkred": "#8B0000", "maroon": "#800000",
        "burgundy": "#800020",
    },
    "pink": {
        "pink": "#FFC0CB", "lightpink": "#FFB6C1", "hotpink": "#FF69B4",
        "deeppink": "#FF1493", "mediumvioletred": "#C71585", "palevioletred": "#DB7093",
        "lightcoral": "#F08080", "salmon": "#FA8072", "darksalmon": "#E9967A",
        "magenta": "#FF00FF", "mistyrose": "#FFE4E1",
    },
    "orange": {
        "lightsalmon": "#FFA07A", "coral": "#FF7F50", "tomato": "#FF6347",
        "orangered": "#FF4500", "darkorange": "#FF8C00", "orange": "#FFA500",
        "sandybrown": "#F4A460", "burntorange": "#CC5500", "rust": "#B7410E",
        "chocolate": "#D2691E",
    },
    "yellow": {
        "gold": "#FFD700", "yellow": "#FFFF00", "lightyellow": "#FFFFE0",
        "lemonchiffon": "#FFFACD", "lightgoldenrodyellow": "#FAFAD2",
        "palegoldenrod": "#EEE8AA", "khaki": "#F0E68C", "darkkhaki": "#BDB76B",
        "goldenrod": "#DAA520", "darkgoldenrod": "#B8860B", "mustard": "#E1AD01",
    },
    "purple": {
        "lavender": "#E6E6FA", "thistle": "#D8BFD8", "plum": "#DDA0DD", "violet": "#EE82EE",
        "orchid": "#DA70D6", "mediumorchid": "#BA55D3", "mediumpurple": "#9370DB",
        "rebeccapurple": "#663399", "blueviolet": "#8A2BE2", "darkviolet": "#9400D3",
        "darkorchid": "#9932CC", "darkmagenta": "#8B008B", "purple": "#800080",
        "indigo": "#4B0082",
    },
    "green": {
        "greenyellow": "#ADFF2F", "chartreuse": "#7FFF00", "lawngreen": "#7CFC00",
        "lime": "#00FF00", "limegreen": "#32CD32", "palegreen": "#98FB98",
        "lightgreen": "#90EE90", "mediumspringgreen": "#00FA9A", "springgreen": "#00FF7F",
        "mediumseagreen": "#3CB371", "seagreen": "#2E8B57", "forestgreen": "#228B22",
        "green": "#008000", "darkgreen": "#006400", "yellowgreen": "#9ACD32",
        "olivedrab": "#6B8E23", "olive": "#808000", "darkolivegreen": "#556B2F",
        "mediumaquamarine": "#66CDAA", "darkseagreen": "#8FBC8F", "lightseagreen": "#20B2AA",
        "darkcyan": "#008B8B", "teal": "#008080", "aquamarine": "#7FFFD4",
    },
    "blue": {
        "aqua": "#00FFFF", "lightcyan": "#E0FFFF", "paleturquoise": "#AFEEEE",
        "turquoise": "#40E0D0", "mediumturquoise": "#48D1CC", "darkturquoise": "#00CED1",
        "cadetblue": "#5F9EA0", "steelblue": "#4682B4", "lightsteelblue": "#B0C4DE",
        "powderblue": "#B0E0E6", "lightblue": "#ADD8E6", "skyblue": "#87CEEB",
        "lightskyblue": "#87CEFA", "deepskyblue": "#00BFFF", "dodgerblue": "#1E90FF",
        "cornflowerblue": "#6495ED", "royalblue": "#4169E1", "blue": "#0000FF",
        "mediumblue": "#0000CD", "darkblue": "#00008B", "navy": "#000080",
        "midnightblue": "#191970", "slateblue": "#6A5ACD", "darkslateblue": "#483D8B",
        "mediumslateblue": "#7B68EE",
    },
    "brown": {
        "rosybrown": "#BC8F8F", "peru": "#CD853F",
        "saddlebrown": "#8B4513", "sienna": "#A0522D",
        "darkbrown": "#4B3621", "coffee": "#6F4E37",
    },
    "beige": {
        "beige": "#F5F5DC", "cornsilk": "#FFF8DC", "blanchedalmond": "#FFEBCD",
        "bisque": "#FFE4C4", "navajowhite": "#FFDEAD", "wheat": "#F5DEB3",
        "burlywood": "#DEB887", "tan": "#D2B48C", "antiquewhite": "#FAEBD7",
        "linen": "#FAF0E6", "oldlace": "#FDF5E6", "moccasin": "#FFE4B5",
        "papayawhip": "#FFEFD5", "peachpuff": "#FFDAB9", "cream": "#FFFDD0",
    },
    "white": {
        "white": "#FFFFFF", "snow": "#FFFAFA", "honeydew": "#F0FFF0", "mintcream": "#F5FFFA",
        "azure": "#F0FFFF", "aliceblue": "#F0F8FF", "ghostwhite": "#F8F8FF",
        "whitesmoke": "#F5F5F5", "seashell": "#FFF5EE", "floralwhite": "#FFFAF0",
        "ivory": "#FFFFF0", "lavenderblush": "#FFF0F5",
    },
    "gray": {
        "gainsboro": "#DCDCDC", "lightgray": "#D3D3D3", "silver": "#C0C0C0",
        "darkgray": "#A9A9A9", "gray": "#808080", "dimgray": "#696969",
        "lightslategray": "#778899", "slategray": "#708090", "darkslategray": "#2F4F4F",
        "charcoal": "#36454F",
    },
    "black": {"black": "#000000"},
}  # fmt: skip

EXTRA_NAMES = frozenset(
    {"burgundy", "mustard", "darkbrown", "coffee", "cream", "charcoal", "burntorange", "rust"}
)
"""Palette names that are not CSS4 colours."""

PALETTE: dict[str, tuple[str, str]] = {
    name: (hex_, family)
    for family, names in _PALETTE_BY_FAMILY.items()
    for name, hex_ in names.items()
}
"""Every palette name with its sRGB hex and its family."""


@dataclass(frozen=True)
class Colour:
    """One dominant colour of an object: a k-means cluster of its pixels.

    Attributes:
        rank: 1 = the cluster with the largest weighted share of the object's pixels.
        L: CIELAB lightness of the cluster centre, in ``[0, 100]``.
        a: CIELAB green (-) to red (+).
        b: CIELAB blue (-) to yellow (+).
        hex: The centre as sRGB ``#rrggbb``.
        name: The nearest palette colour.
        family: That name's family (one of :data:`FAMILIES`).
        fraction: The cluster's weighted share of the object's pixels; they sum to 1.
    """

    rank: int
    L: float
    a: float
    b: float
    hex: str
    name: str
    family: str
    fraction: float


# sRGB (D65) <-> CIELAB, as in IEC 61966-2-1 and CIE 15
_M = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_WHITE = np.array([0.95047, 1.0, 1.08883])
_EPS, _KAPPA = 216 / 24389, 24389 / 27


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB ``(..., 3)`` of sRGB values ``(..., 3)`` (``uint8`` 0-255, or floats in 0-1)."""
    c = np.asarray(rgb, np.float64)
    if np.asarray(rgb).dtype == np.uint8:
        c = c / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = lin @ _M.T / _WHITE
    f = np.where(xyz > _EPS, np.cbrt(xyz), (_KAPPA * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """sRGB ``(..., 3)`` floats in ``[0, 1]`` (clipped to the gamut) of CIELAB values."""
    lab = np.asarray(lab, np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f**3 > _EPS, f**3, (116 * f - 16) / _KAPPA) * _WHITE
    lin = np.clip(xyz @ np.linalg.inv(_M).T, 0.0, 1.0)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


def _hex_to_rgb(value: str) -> tuple[int, int, int]:
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def to_hex(lab: Sequence[float]) -> str:
    """``#rrggbb`` of a CIELAB colour (clipped to the sRGB gamut)."""
    r, g, b = np.round(lab_to_rgb(np.asarray(lab)) * 255).astype(int)
    return f"#{r:02x}{g:02x}{b:02x}"


_NAMES = tuple(PALETTE)
_PALETTE_LAB = rgb_to_lab(np.array([_hex_to_rgb(PALETTE[n][0]) for n in _NAMES], np.uint8))


def name_colour(lab: Sequence[float]) -> tuple[str, str]:
    """The nearest palette colour (CIE76 distance in CIELAB) and its family."""
    d = ((_PALETTE_LAB - np.asarray(lab, np.float64)) ** 2).sum(axis=1)
    name = _NAMES[int(d.argmin())]
    return name, PALETTE[name][1]


def _shrink(region: np.ndarray, side: int) -> np.ndarray:
    """``region`` with its longer side at most ``side`` pixels (area averaging)."""
    h, w = region.shape[:2]
    scale = side / max(h, w)
    if scale >= 1.0:
        return region
    import cv2

    step = max(1, int(1 / scale) // 4)  # a cheap stride first: area-average at most 4x4
    if step > 1:
        region = region[::step, ::step]
        h, w = region.shape[:2]
        scale = side / max(h, w)

    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(np.ascontiguousarray(region), size, interpolation=cv2.INTER_AREA)


def centre_weights(height: int, width: int, sigma: float = 0.4) -> np.ndarray:
    """Gaussian weights ``(height, width)`` centred on the box, ``sigma`` of its half-size.

    With the default the centre weighs 1, the middle of an edge 0.04 and a corner 0.002: a box
    tight around an object counts the object, not the background in its corners.
    """
    v = (np.arange(height) + 0.5) / height * 2 - 1
    u = (np.arange(width) + 0.5) / width * 2 - 1
    return np.exp(-(v[:, None] ** 2 + u[None, :] ** 2) / (2 * sigma**2))


def grabcut_weights(
    crop: np.ndarray, box: tuple[int, int, int, int], iterations: int = 2
) -> np.ndarray:
    """Foreground mask (1/0 as weights) of ``crop`` by GrabCut seeded with ``box`` inside it.

    ``box`` is ``(x1, y1, x2, y2)`` in ``crop`` pixels; the crop must leave some background
    around it. Falls back to centre weights when GrabCut finds no foreground.
    """
    import cv2

    h, w = crop.shape[:2]
    x1, y1, x2, y2 = box
    # a one-pixel frame at least: GrabCut needs background samples outside the rectangle
    x1, y1 = max(1, min(x1, w - 3)), max(1, min(y1, h - 3))
    x2, y2 = max(x1 + 1, min(x2, w - 1)), max(y1 + 1, min(y2, h - 1))
    mask = np.zeros((h, w), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(crop[..., ::-1])
    fg = np.zeros((h, w), np.float64)
    try:
        cv2.grabCut(
            bgr, mask, (x1, y1, x2 - x1, y2 - y1), bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT
        )
        fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.float64)
    except cv2.error:  # too few pixels to model (a tiny or flat crop): centre weights
        pass
    if fg.sum() == 0:
        fg[y1:y2, x1:x2] = centre_weights(y2 - y1, x2 - x1)
    return fg


def _sq_dist(points: np.ndarray, sq: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared distances ``(n, k)`` of points (with their squared norms ``sq``) to centres."""
    return np.maximum(sq[:, None] - 2.0 * points @ centres.T + (centres**2).sum(1)[None], 0.0)


def weighted_kmeans(
    points: np.ndarray, weights: np.ndarray, k: int, iterations: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``(k', 3)`` and weighted shares ``(k',)`` of a weighted k-means (Lloyd).

    k-means++ seeding from a fixed seed, so the result is a function of the input. Empty
    clusters are dropped, so ``k' <= k`` (an object of one flat colour gives one cluster).
    """
    rng = np.random.default_rng(seed)
    n = len(points)
    k = max(1, min(k, n))
    sq = (points**2).sum(1)
    p = weights / weights.sum()
    c = points[[rng.choice(n, p=p)]]
    d2 = _sq_dist(points, sq, c)[:, 0]
    for _ in range(1, k):
        q = p * d2
        if q.sum() <= 1e-9:  # every point sits on a centre already
            break
        nxt = points[[rng.choice(n, p=q / q.sum())]]
        c = np.vstack([c, nxt])
        d2 = np.minimum(d2, _sq_dist(points, sq, nxt)[:, 0])
    for _ in range(iterations):
        assign = _sq_dist(points, sq, c).argmin(1)
        mass = np.bincount(assign, weights, minlength=len(c))
        keep = mass > 0
        sums = np.zeros_like(c)
        np.add.at(sums, assign, weights[:, None] * points)
        new = sums[keep] / mass[keep, None]
        converged = new.shape == c.shape and np.abs(new - c).max() < 1e-3
        c = new
        if converged:
            break
    assign = _sq_dist(points, sq, c).argmin(1)
    mass = np.bincount(assign, weights, minlength=len(c))
    keep = mass > 0
    return c[keep], mass[keep] / mass.sum()


def dominant_colours(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    *,
    clusters: int = 4,
    side: int = 24,
    iterations: int = 10,
    method: Method = "centre",
) -> list[Colour]:
    """The dominant colours of the object in ``box`` of ``image``, largest share first.

    Args:
        image: RGB ``uint8`` ``(H, W, 3)`` pixels (the decoded image the box refers to).
        box: ``(x1, y1, x2, y2)`` in ``image`` pixels.
        clusters: k of the k-means (3 to 5 is sensible).
        side: The box is shrunk to at most this many pixels a side before clustering.
        iterations: At most this many Lloyd iterations.
        method: ``centre`` (Gaussian centre weights) or ``grabcut`` (a GrabCut mask).

    Returns:
        Up to ``clusters`` colours, ranked 1.. by ``fraction`` (summing to 1).
    """
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    left, top = int(np.clip(np.floor(x1), 0, w - 1)), int(np.clip(np.floor(y1), 0, h - 1))
    right = int(np.clip(np.ceil(x2), left + 1, w))
    bottom = int(np.clip(np.ceil(y2), top + 1, h))
    if method == "centre":
        region = _shrink(image[top:bottom, left:right], side)
        weights = centre_weights(*region.shape[:2])
    elif method == "grabcut":
        # the box with a quarter of its size around it: GrabCut learns the background there
        px, py = (right - left) // 4, (bottom - top) // 4
        ol, ot = max(0, left - px), max(0, top - py)
        outer = image[ot : min(h, bottom + py), ol : min(w, right + px)]
        region = _shrink(outer, side * 3 // 2)
        s = region.shape[1] / outer.shape[1]
        inner = (
            round((left - ol) * s),
            round((top - ot) * s),
            round((right - ol) * s),
            round((bottom - ot) * s),
        )
        weights = grabcut_weights(region, inner)
    else:
        raise ValueError(f"unknown colour method {method!r} (known: centre, grabcut)")
    lab = rgb_to_lab(region.reshape(-1, 3).astype(np.uint8))
    wts = weights.reshape(-1)
    keep = wts > 1e-3
    centres, fractions = weighted_kmeans(lab[keep], wts[keep], clusters, iterations)
    order = np.argsort(-fractions, kind="stable")
    out = []
    for rank, i in enumerate(order, start=1):
        centre = centres[i]
        name, family = name_colour(centre)
        out.append(
            Colour(
                rank=rank,
                L=float(np.clip(centre[0], 0.0, 100.0)),
                a=float(centre[1]),
                b=float(centre[2]),
                hex=to_hex(centre),
                name=name,
                family=family,
                fraction=float(fractions[i]),
            )
        )
    return out
