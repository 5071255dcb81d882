"""Detector and classifier backends behind the contracts of :mod:`trendscope.vision.base`.

Nothing heavy is imported here: torch, onnxruntime and ultralytics load inside the backends.
"""
