"""Data quality: expectation suites as code and the write-audit-publish gate.

Every table is written to ``staging/`` first, validated with Great Expectations, and only then
published; see :mod:`trendscope.quality.gate`. The suites are in ``suites``, what they know of a
partition in ``context``, the Great Expectations plumbing in ``gx``, where its stores and Data
Docs live in ``docs``, and our summary of each run in ``results``.
"""
