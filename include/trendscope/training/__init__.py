"""Teach Trendscope new categories: harvest crops, train classifiers (and detectors), evaluate.

A computing layer like ``vision/``: it reads files and writes model files and evaluations; the
CLI (``trendscope.cli.training``) registers the results in :mod:`trendscope.models.registry`.
See docs/training.md.
"""
