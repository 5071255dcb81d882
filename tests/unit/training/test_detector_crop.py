"""``train-classifier --target``: photos cut to their object with the configured detector."""

from __future__ import annotations

from trendscope.photos import sample_photo
from trendscope.training.data import detector_crop
from trendscope.vision.factory import load_detector
from trendscope.vision.fine import crop


def test_photos_are_cut_to_their_most_confident_object(config) -> None:
    detector = load_detector(config)
    coffee, cat = sample_photo("coffee"), sample_photo("chelsea")
    (det,) = detector.detect([coffee])
    cups = [j for j in range(len(det)) if det.labels[j] == "cup"]
    best = max(cups, key=lambda j: det.confidence[j])

    crops = detector_crop(detector, "cup", min_confidence=0.5, padding=0.05)([coffee, cat])

    # the daily run's padded crop of the best cup box, much smaller than the photo
    assert crops[0].shape == crop(coffee, tuple(det.xyxy[best]), 0.05).shape
    assert crops[0].shape[0] * crops[0].shape[1] < 0.8 * coffee.shape[0] * coffee.shape[1]
    assert crops[1].shape == cat.shape  # no cup in the cat photo: kept whole
