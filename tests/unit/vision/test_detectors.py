from __future__ import annotations

import numpy as np
import pytest

from trendscope.vision.base import Detections
from trendscope.vision.factory import load_classifier, load_detector
from trendscope.vision.labels import COCO80
from trendscope.vision.ultralytics_backend import from_ultralytics
from trendscope.vision.yolox import batched_nms, decode_yolox, letterbox, nms, to_detections


def _labels(d: Detections, min_conf: float = 0.5) -> list[str]:
    return [lbl for lbl, c in zip(d.labels, d.confidence, strict=True) if c >= min_conf]


def test_yolox_finds_the_cat_the_cup_and_the_people(vision_config, photos) -> None:
    det = load_detector(vision_config)
    assert det.info.name == "yolox_nano"
    assert det.info.sha256 == "615e266100c341c28d62abe255f7a6d9d7e2b91c1b0b87fc24c5d9e53141a57b"
    chelsea, coffee, bus = det.detect([photos["chelsea"], photos["coffee"], photos["bus"]])
    assert "cat" in _labels(chelsea)
    assert "cup" in _labels(coffee)
    assert "bus" in _labels(bus)
    assert _labels(bus).count("person") >= 3
    h, w = photos["bus"].shape[:2]
    assert (bus.xyxy[:, [0, 2]] <= w).all() and (bus.xyxy[:, [1, 3]] <= h).all()
    assert (bus.xyxy[:, 0] < bus.xyxy[:, 2]).all() and (bus.xyxy[:, 1] < bus.xyxy[:, 3]).all()
    # the bus spans most of the photo's width in its middle band
    bx = bus.xyxy[list(bus.labels).index("bus")]
    assert bx[2] - bx[0] > 0.8 * w and 150 < bx[1] < 350


@pytest.mark.parametrize(
    ("photo", "label", "min_conf"),
    [("chelsea", "cat", 0.5), ("astronaut", "person", 0.8), ("coffee", "cup", 0.8)],
)
def test_yolox_names_the_main_object(vision_config, photos, photo, label, min_conf) -> None:
    (d,) = load_detector(vision_config).detect([photos[photo]])
    best = int(d.confidence.argmax())
    assert d.labels[best] == label and d.confidence[best] > min_conf
    assert d.class_id[best] == COCO80.index(label)


def test_yolox_on_a_rotated_photo_keeps_boxes_in_its_frame(vision_config, photos) -> None:
    rotated = np.ascontiguousarray(np.rot90(photos["chelsea"]))  # 451 x 300, portrait
    (d,) = load_detector(vision_config).detect([rotated])
    assert "cat" in _labels(d)
    h, w = rotated.shape[:2]
    assert (d.xyxy >= 0).all() and (d.xyxy[:, [0, 2]] <= w).all() and (d.xyxy[:, [1, 3]] <= h).all()


def test_empty_batch_gives_no_results(vision_config) -> None:
    assert load_detector(vision_config).detect([]) == []


def _raw_with_one_box(cx: float, cy: float, bw: float, bh: float, cls: int) -> np.ndarray:
    """Raw rows whose only confident anchor is a stride-32 box centred at (cx, cy) input px."""
    raw = np.zeros((3549, 85), np.float32)
    gx, gy = int(cx // 32), int(cy // 32)
    a = 52 * 52 + 26 * 26 + gy * 13 + gx
    raw[a, :4] = [cx / 32 - gx, cy / 32 - gy, np.log(bw / 32), np.log(bh / 32)]
    raw[a, 4], raw[a, 5 + cls] = 0.9, 0.8
    return raw


@pytest.mark.parametrize(
    ("shape", "box"),  # original (h, w) and a box in its pixels
    [
        ((300, 700), (350.0, 30.0, 630.0, 270.0)),  # landscape: r = 416 / 700
        ((700, 300), (30.0, 350.0, 270.0, 630.0)),  # the same photo rotated: r = 416 / 700
        ((1000, 1000), (100.0, 200.0, 500.0, 900.0)),  # square, downscaled
        ((200, 100), (10.0, 20.0, 90.0, 180.0)),  # small, upscaled: r = 2.08
    ],
)
def test_letterbox_boxes_map_back_to_the_original(shape, box) -> None:
    h, w = shape
    canvas, r = letterbox(np.zeros((h, w, 3), np.uint8), 416)
    assert r == pytest.approx(min(416 / h, 416 / w))
    assert (canvas[: round(h * r), : round(w * r)] == 0).all()  # the photo, top-left
    x1, y1, x2, y2 = (v * r for v in box)
    raw = _raw_with_one_box((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, cls=15)
    d = to_detections(raw, r, shape, input_size=416, confidence=0.3, iou=0.45, max_detections=5)
    assert d.labels == ("cat",) and d.confidence[0] == pytest.approx(0.72)
    np.testing.assert_allclose(d.xyxy[0], box, atol=1e-3)


def test_boxes_are_clipped_to_the_original_image() -> None:
    raw = _raw_with_one_box(400, 100, 100, 300, cls=0)  # spills right and above the photo
    d = to_detections(
        raw, 416 / 640, (480, 640), input_size=416, confidence=0.3, iou=0.45, max_detections=5
    )
    x1, y1, x2, _ = d.xyxy[0]
    assert (y1, x2) == (0.0, 640.0) and x1 == pytest.approx(350 * 640 / 416, rel=1e-5)


def test_boxes_map_back_to_the_original_pixels(vision_config, photos) -> None:
    """The same photo mirrored and enlarged gives the cup box mirrored and scaled, in its pixels."""
    import cv2

    det = load_detector(vision_config)
    img = photos["coffee"]  # 600 x 400
    big = cv2.resize(np.ascontiguousarray(img[:, ::-1]), (1500, 1000))
    a, b = det.detect([img, big])
    cup_a = a.xyxy[list(a.labels).index("cup")]
    cup_b = b.xyxy[list(b.labels).index("cup")]
    w = img.shape[1]
    expected = np.array([w - cup_a[2], cup_a[1], w - cup_a[0], cup_a[3]]) * 2.5
    assert np.abs(cup_b - expected).max() < 0.05 * 1500


def test_letterbox_puts_the_photo_top_left() -> None:
    img = np.zeros((100, 200, 3), np.uint8)
    canvas, r = letterbox(img, 416)
    assert r == pytest.approx(2.08)
    assert (canvas[:208, :416] == 0).all() and (canvas[208:] == 114).all()


def test_decode_grid_and_stride() -> None:
    raw = np.zeros((3549, 85), np.float32)
    raw[0, 4], raw[0, 5] = 1.0, 0.9  # anchor (0, 0) at stride 8, w = h = exp(0) * 8
    raw[2704, :2] = 0.5  # first anchor of the stride-16 grid
    boxes, scores = decode_yolox(raw, 416)
    assert boxes[0].tolist() == [-4.0, -4.0, 4.0, 4.0]
    assert boxes[2704].tolist() == [0.0, 0.0, 16.0, 16.0]
    assert scores[0, 0] == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("boxes", "scores", "classes", "kept"),
    [
        ([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], [0.9, 0.8, 0.7], [0, 0, 0], [0, 2]),
        ([[0, 0, 10, 10], [1, 1, 10, 10]], [0.6, 0.8], [0, 0], [1]),
        ([[0, 0, 10, 10], [1, 1, 10, 10]], [0.9, 0.8], [0, 1], [0, 1]),  # other class survives
    ],
)
def test_nms(boxes, scores, classes, kept) -> None:
    b, s, c = np.array(boxes, np.float32), np.array(scores, np.float32), np.array(classes)
    assert sorted(batched_nms(b, s, c, 0.45).tolist()) == kept
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_ultralytics_backend_loads_a_real_yolov8_checkpoint(vision_config, photos) -> None:
    cfg = vision_config.model_copy(
        update={
            "detector": vision_config.detector.model_copy(
                update={
                    "backend": "ultralytics",
                    "weights": "fall_detection_yolov8n.pt",
                    "confidence": 0.05,
                    "input_size": 320,
                }
            )
        }
    )
    det = load_detector(cfg)
    assert len(det.vocabulary) == 2
    assert det.info.sha256 == "5f6f620d0fa574ed80d8348bb8d46060148eb0ba24e3eea00d31a30cdadba41d"
    (result,) = det.detect([photos["astronaut"]])
    assert isinstance(result, Detections)
    assert set(result.labels) <= set(det.vocabulary)
    assert len(result) >= 1  # a person: standing or fallen, the model sees someone
    h, w = photos["astronaut"].shape[:2]
    assert (result.xyxy[:, [0, 2]] <= w).all() and (result.xyxy[:, [1, 3]] <= h).all()
    # the converter takes the vocabulary from the result itself when none is given
    (raw,) = det.model.predict([photos["astronaut"][:, :, ::-1]], **det.kwargs)
    again = from_ultralytics(raw)
    assert again.labels == result.labels
    np.testing.assert_allclose(again.xyxy, result.xyxy, atol=1e-3)


def test_missing_weights_say_how_to_fetch(vision_config, tmp_path) -> None:
    cfg = vision_config.model_copy(update={"models_dir": str(tmp_path)})
    with pytest.raises(FileNotFoundError, match="make models"):
        load_classifier(cfg)


def test_loading_yolo_leaves_pil_and_ingest_as_they_were() -> None:
    """Ultralytics patches PIL.Image.open to pip-install a HEIF plugin on unknown files; after a
    YOLO model loads in the process, ingest must still quarantine garbage as unrecognised."""
    from PIL import Image

    from trendscope.config import load_config
    from trendscope.ingest.inspect import inspect_bytes
    from trendscope.vision.ultralytics_backend import _offline_yolo

    _offline_yolo()
    from ultralytics.utils import patches

    assert Image.open is patches._image_open  # the original, kept by Ultralytics
    source = load_config(None).source
    insp = inspect_bytes(b"\x00\x01garbage" * 50, source)
    assert not insp.ok and "unrecognised" in insp.reason
