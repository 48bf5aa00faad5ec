"""Scheduled reports: per-report cron schedule, formats, universe, timeframe and N; each run is stored.

``ReportSchedule`` is the config; ``due_schedules`` is the pure timing rule (croniter);
``run_report`` builds one report through a :class:`~serve.ranker_core.RankerCore` and stores its
rows in the ``rankings`` table (through the ``StoreWriter`` actor when one is given) beside the
files under ``reports/<run_id>/``. ``SchedulerCore`` decides what is due; its Ray shell
(:class:`serve.ranker.ReportScheduler`) runs the loop inside the cluster, calling the ``Ranker`` deployment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from serve.schemas import ALL_FORMATS, ReportFormat, ReportRequest, TimeframeName

logger = logging.getLogger(__name__)


class ReportSchedule(BaseModel):
    """One scheduled report."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    cron: str = Field(description="Five-field cron expression in UTC, e.g. '5 0 * * *' (daily 00:05).")
    timeframe: TimeframeName = "1d"
    exchange: str | None = None
    top: int = Field(5, ge=1, le=50)
    symbols: list[str] | None = None
    formats: list[ReportFormat] = Field(default_factory=lambda: list(ALL_FORMATS), min_length=1)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from croniter import croniter  # type: ignore[import-untyped]

        if not croniter.is_valid(value) or len(value.split()) != 5:
            raise ValueError(f"invalid five-field cron expression {value!r}")
        return value

    def request(self) -> ReportRequest:
        """The report request this schedule makes."""
        return ReportRequest(timeframe=self.timeframe, exchange=self.exchange, top=self.top, symbols=self.symbols,
                             formats=self.formats)


def next_run_ms(schedule: ReportSchedule, after_ms: int) -> int:
    """The first time strictly after ``after_ms`` (epoch ms) that ``schedule`` fires.

    >>> next_run_ms(ReportSchedule(name="d", cron="5 0 * * *"), 0)
    300000
    """
    from croniter import croniter  # type: ignore[import-untyped]

    start = datetime.fromtimestamp(after_ms / 1000, tz=UTC)
    return int(croniter(schedule.cron, start).get_next(datetime).timestamp() * 1000)


def due_schedules(schedules: Sequence[ReportSchedule], last_run_ms: dict[str, int],
                  now_ms: int) -> list[ReportSchedule]:
    """Schedules whose next fire time after their last run (or ``now_ms`` minus one day if never run) has passed.

    A schedule that missed several fire times runs once (crash-only catch-up, never a burst).
    """
    due = []
    for s in schedules:
        last = last_run_ms.get(s.name, now_ms - 86_400_000)
        if next_run_ms(s, last) <= now_ms:
            due.append(s)
    return due


def new_run_id(now_ms: int, name: str = "api") -> str:
    """A sortable run id: ``YYYYmmddTHHMMSSZ-<name>-xxxxxx``."""
    import uuid

    stamp = datetime.fromtimestamp(now_ms / 1000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{name}-{uuid.uuid4().hex[:6]}"


def run_report(core: Any, request: ReportRequest, *, sink: Callable[[pa.Table], int] | None,
               name: str = "api") -> dict[str, Any]:
    """Build one report with ``core``, write its files and store its rows; returns a ``ReportResponse`` dict.

    ``sink`` inserts the ``rankings`` rows (``StoreOps.insert_rankings`` or a ``StoreWriter`` call);
    None writes the files only.
    """
    from cluster.demo import ranking_table

    now_ms = int(time.time() * 1000)
    run_id = new_run_id(now_ms, name)
    report, paths, ranking = core.build_report(run_id=run_id, timeframe=request.timeframe, top=request.top,
                                               exchange=request.exchange, symbols=request.symbols,
                                               formats=request.formats)
    if sink is not None:
        sink(ranking_table(ranking, run_id=run_id, exchange=report["exchange"], now_ms=now_ms))
    logger.info("report %s written (%s)", run_id, ", ".join(sorted(paths)))
    return {"run_id": run_id, "schema_version": report["schema_version"], "timeframe": report["timeframe"],
            "exchange": report["exchange"], "formats": sorted(paths), "paths": {k: str(v) for k, v in paths.items()},
            "top": [t["symbol"] for t in report["top"]]}


class SchedulerCore:
    """Remembers when each schedule last ran and says what to run now (no Ray, no clock of its own)."""

    def __init__(self, schedules: Sequence[ReportSchedule], *, started_ms: int) -> None:
        self.schedules = list(schedules)
        self.last_run_ms: dict[str, int] = {s.name: started_ms for s in schedules}

    def due(self, now_ms: int) -> list[ReportSchedule]:
        """Schedules to run at ``now_ms``; marks them as run."""
        due = due_schedules(self.schedules, self.last_run_ms, now_ms)
        for s in due:
            self.last_run_ms[s.name] = now_ms
        return due

    def seconds_to_next(self, now_ms: int) -> float:
        """Seconds until the earliest next fire time (at least 1)."""
        nxt = min((next_run_ms(s, self.last_run_ms[s.name]) for s in self.schedules), default=now_ms + 60_000)
        return max(1.0, (nxt - now_ms) / 1000)
