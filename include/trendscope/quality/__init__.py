"""Data quality: expectation suites as code and the write-audit-publish gate.

Every table is written to ``staging/`` first, validated with Great Expectations, and only then
published; see :mod:`trendscope.quality.gate`.
"""
