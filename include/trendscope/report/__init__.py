"""Human-readable trend reports (a self-contained HTML file)."""

from __future__ import annotations

from trendscope.report.html import build_report

__all__ = ["build_report"]
