"""What a pipeline step reports back (small: it travels through Airflow XCom)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any


@dataclass
class StepResult:
    """Counts and output paths of one step for one location-day."""

    step: str
    location: str
    date: date
    counts: dict[str, int] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["date"] = self.date.isoformat()
        return d

    def summary(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts.items())
        return f"{self.step} {self.location} {self.date}: {counts}"
