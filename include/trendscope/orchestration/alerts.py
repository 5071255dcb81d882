"""Alerts through Airflow's SMTP notifier: a failed task, the day's rising labels, a late day.

Every message is built by a pure function (:func:`failure_message`, :func:`digest_message`,
:func:`deadline_message`) and sent by :func:`send_message` through
``airflow.providers.smtp.notifications.smtp.SmtpNotifier``; the mail server, its login and
password live in the Airflow connection ``alerts.smtp_conn_id``, never in the config. Airflow
is imported only inside functions, so DAG files can import this module at parse time.

How the deadline alert runs in Airflow 3.3.2 (read from ``airflow.models.deadline``,
``airflow.triggers.callback`` and ``airflow.sdk.definitions.callback``):

* the DAG's ``deadline=`` holds a ``DeadlineAlert``; when the scheduler creates a run it stores a
  ``Deadline`` row at ``logical_date + interval`` (``DeadlineReference.DAGRUN_LOGICAL_DATE``);
  a run that succeeds before then deletes its row;
* the scheduler's loop finds rows past their time and queues their callback. An
  ``AsyncCallback`` becomes a ``CallbackTrigger`` that the **triggerer** runs (a
  ``SyncCallback`` would go to the executor instead); without a triggerer no deadline
  message is sent;
* the callback is stored by its import path (``trendscope.orchestration.alerts.deadline_missed``),
  so ``trendscope`` must be importable in the triggerer's environment, and its ``kwargs`` must be
  JSON (they travel in the serialized DAG). The triggerer calls it with those kwargs and a small
  ``context``: ``{"dag_run": <the run as the REST API returns it>, "deadline": {"id",
  "deadline_time"}}``, not a task context.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from trendscope.config import AlertsConfig, TrendscopeConfig, load_config
from trendscope.orchestration.schedule import latest_deadline_offset
from trendscope.orchestration.tasks import partition_date

if TYPE_CHECKING:
    from airflow.sdk import DeadlineAlert

log = logging.getLogger(__name__)

DIGEST_TRENDS = ("rising", "new")
_DIGEST_COLUMNS = [
    "location",
    "kind",
    "label",
    "fine_label",
    "trend",
    "share",
    "expected_share",
    "lift",
    "p_adjusted",
    "authors",
]
_MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class Message:
    """One alert as the recipient reads it: a subject, a plain-text body and the HTML body.

    The SMTP notifier sends ``html``; ``text`` is the same content for logs.
    """

    kind: str  # task-failure | rising-digest | deadline (the X-Trendscope-Alert header)
    subject: str
    text: str
    html: str


# --- sending --------------------------------------------------------------------------------


def _notifier(alerts: AlertsConfig, message: Message) -> Any:
    """The Airflow notifier that delivers ``message`` for the configured ``alerts.notifier``."""
    if alerts.notifier == "smtp":
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        return SmtpNotifier(
            to=list(alerts.to),
            from_email=alerts.from_email,  # None: the connection's extra from_email
            subject=message.subject,
            html_content=message.html,
            smtp_conn_id=alerts.smtp_conn_id,
            custom_headers={"X-Trendscope-Alert": message.kind},
        )
    raise ValueError(f"alerts.notifier {alerts.notifier!r} cannot send messages")


def send_message(alerts: AlertsConfig, message: Message) -> None:
    """Send ``message`` to ``alerts.to``.

    Calls the notifier's ``notify`` rather than the notifier itself: calling it renders the
    subject and body as Jinja templates, and an error message may well contain ``{{``.
    """
    _notifier(alerts, message).notify({})
    log.info("sent %s alert to %s: %s", message.kind, ", ".join(alerts.to), message.subject)


async def asend_message(alerts: AlertsConfig, message: Message) -> None:
    """:func:`send_message` for the triggerer's event loop (the notifier's ``async_notify``)."""
    await _notifier(alerts, message).async_notify({})
    log.info("sent %s alert to %s: %s", message.kind, ", ".join(alerts.to), message.subject)


def _html_page(title: str, rows: Sequence[tuple[str, str]], extra: str = "") -> str:
    cells = "".join(
        f'<tr><th align="left" valign="top">{html.escape(k)}</th><td>{v}</td></tr>' for k, v in rows
    )
    return f"<html><body><h3>{html.escape(title)}</h3><table>{cells}</table>{extra}</body></html>"


def _link(url: str) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{html.escape(url)}</a>'


def _text_page(title: str, rows: Sequence[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows) + 1
    return "\n".join([title, "", *(f"{k + ':':<{width}} {v}" for k, v in rows)])


# --- a failed task --------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskFailure:
    """What failed: the run, the location-day (or rollup period), the step and the error."""

    dag_id: str
    run_id: str
    step: str  # the task id
    location: str | None
    day: date | None
    period: str | None  # a rollup's week or month
    shard: str | None  # an analyze shard, "i/N"
    try_number: int | None
    error: str
    log_url: str | None


def _flag(values: Iterable[Any], name: str) -> str | None:
    """The value after ``name`` in the first argument list among ``values`` that has it."""
    for value in values:
        if isinstance(value, list | tuple) and name in value:
            i = list(value).index(name)
            if i + 1 < len(value) and isinstance(value[i + 1], str):
                return value[i + 1]
    return None


def _task_arguments(task: Any) -> list[Any]:
    """A task's own arguments: a Python task's ``op_args`` and ``op_kwargs`` values, a pod's
    ``arguments`` (mapped values are already resolved when the task has run)."""
    kwargs = getattr(task, "op_kwargs", None) or {}
    return [
        *(getattr(task, "op_args", None) or []),
        *(kwargs.values() if isinstance(kwargs, Mapping) else []),
        getattr(task, "arguments", None),
    ]


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _error_text(error: Any) -> str:
    if error is None:
        return "(no exception in the task context; see the log)"
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    if len(text) > _MAX_ERROR_CHARS:
        text = text[:_MAX_ERROR_CHARS] + " ... (truncated; see the log)"
    return text


def describe_failure(context: Mapping[str, Any], locations: Sequence[str] = ()) -> TaskFailure:
    """Read a failed task's context (the one Airflow passes to ``on_failure_callback``).

    The location is the task's ``location`` argument, the ``--location`` of its CLI arguments
    (an analyze shard), or the first word of its rendered map index when that is one of
    ``locations``. The day is :func:`~trendscope.orchestration.tasks.partition_date` (params.date
    or the logical date); a rollup task names its ``period`` instead.
    """
    ti = context.get("ti") or context.get("task_instance")
    task = context.get("task") or getattr(ti, "task", None)
    kwargs = getattr(task, "op_kwargs", None) or {}
    arguments = _task_arguments(task)

    location = kwargs.get("location") if isinstance(kwargs, Mapping) else None
    if not isinstance(location, str):
        location = _flag(arguments, "--location")
    if location is None:
        rendered = str(getattr(ti, "rendered_map_index", None) or "").split()
        if rendered and rendered[0] in locations:
            location = rendered[0]

    period = kwargs.get("period") if isinstance(kwargs, Mapping) else None
    day: date | None = None
    if not isinstance(period, str):
        period = None
        try:
            day = partition_date(context)
        except (ValueError, TypeError):  # no day in the context: an analyze shard names it
            day = _day(_flag(arguments, "--date"))

    try:
        log_url = getattr(ti, "log_url", None)
    except Exception:  # the property reads Airflow's config; a missing URL is not worth failing
        log_url = None
    dag_run = context.get("dag_run")
    return TaskFailure(
        dag_id=str(getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")),
        run_id=str(
            getattr(ti, "run_id", None) or context.get("run_id") or getattr(dag_run, "run_id", "?")
        ),
        step=str(getattr(ti, "task_id", None) or getattr(task, "task_id", "?")),
        location=location,
        day=day,
        period=period,
        shard=_flag(arguments, "--shard"),
        try_number=getattr(ti, "try_number", None),
        error=_error_text(context.get("exception")),
        log_url=log_url,
    )


def failure_message(failure: TaskFailure) -> Message:
    """The e-mail for one failed task: which location-day, which step, which error."""
    step = failure.step + (f" (shard {failure.shard})" if failure.shard else "")
    where = " ".join(
        x
        for x in (failure.location, failure.period or (failure.day and failure.day.isoformat()))
        if x
    )
    subject = f"[trendscope] {step} failed" + (f" for {where}" if where else "")
    rows = [
        ("Location", failure.location or "(all locations)"),
        ("Period" if failure.period else "Day", failure.period or str(failure.day or "?")),
        ("Step", step),
        ("Try", str(failure.try_number or "?")),
        ("Error", failure.error),
        ("DAG", failure.dag_id),
        ("Run", failure.run_id),
    ]
    if failure.log_url:
        rows.append(("Log", failure.log_url))
    title = "A Trendscope task failed and will not be retried."
    html_rows = [
        (k, f"<pre>{html.escape(v)}</pre>" if k == "Error" else html.escape(v)) for k, v in rows
    ]
    if failure.log_url:
        html_rows[-1] = ("Log", _link(failure.log_url))
    return Message("task-failure", subject, _text_page(title, rows), _html_page(title, html_rows))


def task_failure_callback(context: Mapping[str, Any]) -> None:
    """``on_failure_callback`` of every task: e-mail the failure when alerts are on.

    Never raises: a broken mail server must not hide the task's own failure, so a failure to
    send is logged (in the task's log) instead.
    """
    try:
        config = load_config()
        alerts = config.alerts
        if alerts.notifier == "none" or not alerts.on_failure:
            return
        send_message(alerts, failure_message(describe_failure(context, config.location_slugs)))
    except Exception:
        log.exception("the failure alert could not be sent")


# --- the rising digest ----------------------------------------------------------------------


@dataclass(frozen=True)
class DigestRow:
    """One rising (or new) label of a location-day, as the digest shows it."""

    location: str
    kind: str
    label: str
    fine_label: str | None
    trend: str
    share: float
    expected_share: float | None
    lift: float | None
    p_adjusted: float | None
    authors: int | None


def digest_rows(rows: Iterable[Mapping[str, Any]]) -> list[DigestRow]:
    """The ``rising`` and ``new`` rows of ``trends_daily`` rows; per location, rising first,
    strongest lift first."""
    picked = [DigestRow(**{c: r.get(c) for c in _DIGEST_COLUMNS}) for r in rows]
    picked = [r for r in picked if r.trend in DIGEST_TRENDS]
    return sorted(
        picked,
        key=lambda r: (
            r.location,
            DIGEST_TRENDS.index(r.trend),
            -(r.lift if r.lift is not None else float("inf")),
            r.kind,
            r.label,
            r.fine_label or "",
        ),
    )


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


_DIGEST_HEADERS = (
    "location",
    "label",
    "fine label",
    "trend",
    "share vs expected",
    "lift",
    "adjusted p",
    "authors",
)


def _digest_cells(row: DigestRow) -> dict[str, str]:
    expected = "new" if row.trend == "new" or not row.expected_share else _pct(row.expected_share)
    return {
        "location": row.location,
        "label": row.label if row.kind == "object" else f"{row.label} ({row.kind})",
        "fine label": row.fine_label or "(all)",
        "trend": row.trend,
        "share vs expected": f"{_pct(row.share)} vs {expected}",
        "lift": "-" if row.lift is None else f"{row.lift:.2f}x",
        "adjusted p": "-" if row.p_adjusted is None else f"{row.p_adjusted:.2g}",
        "authors": "-" if row.authors is None else str(row.authors),
    }


def digest_message(day: date, rows: Sequence[DigestRow], report_url: str | None = None) -> Message:
    """The digest e-mail of ``day``'s rising labels (``rows`` from :func:`digest_rows`)."""
    from trendscope.display import format_rows

    labels: list[str] = []
    for r in rows:  # the labels in the subject, each once, strongest first
        name = f"{r.label} ({r.location})"
        if name not in labels:
            labels.append(name)
    shown = ", ".join(labels[:3]) + (f" and {len(labels) - 3} more" if len(labels) > 3 else "")
    subject = f"[trendscope] rising on {day.isoformat()}: {shown}"
    cells = [_digest_cells(r) for r in rows]
    columns = list(_DIGEST_HEADERS)
    intro = (
        f"{len(rows)} label(s) rising or new on {day.isoformat()}, each against its location's "
        "trailing baseline (adjusted p: Benjamini-Hochberg within the location-day)."
    )
    text = f"{intro}\n\n{format_rows(cells, columns)}"
    head = "".join(f'<th align="left">{html.escape(c)}</th>' for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c[k])}</td>" for k in columns) + "</tr>" for c in cells
    )
    report = ""
    if report_url:
        text += f"\n\nReport: {report_url}"
        report = f"<p>Report: {_link(report_url)}</p>"
    page = (
        f"<html><body><p>{html.escape(intro)}</p>"
        f'<table border="1" cellpadding="4" cellspacing="0"><tr>{head}</tr>{body}</table>'
        f"{report}</body></html>"
    )
    return Message("rising-digest", subject, text, page)


def read_trends_day(
    config: TrendscopeConfig,
    day: date,
    locations: Sequence[str] | None = None,
    columns: Sequence[str] = _DIGEST_COLUMNS,
) -> list[dict[str, Any]]:
    """The published ``trends_daily`` rows of ``day`` (every location, or ``locations``)."""
    from trendscope.tables import storage
    from trendscope.tables.paths import partition_path
    from trendscope.tables.schemas import TRENDS_DAILY

    rows: list[dict[str, Any]] = []
    for slug in locations or config.location_slugs:
        path = partition_path(config.data_root, TRENDS_DAILY.name, slug, day)
        try:
            rows += storage.read_table(path, TRENDS_DAILY, columns).to_pylist()
        except FileNotFoundError:  # a day without posts publishes no trends
            continue
    return rows


def send_rising_digest(
    config: TrendscopeConfig, day: date, locations: Sequence[str] | None = None
) -> int:
    """E-mail ``day``'s rising and new labels when there are any; return how many were sent.

    0 means nothing was sent: no rising label, or ``alerts.notifier`` none or
    ``alerts.rising_digest`` off (the digest is still logged).
    """
    rows = digest_rows(read_trends_day(config, day, locations))
    if not rows:
        log.info("no rising labels on %s: no digest", day)
        return 0
    message = digest_message(day, rows, config.alerts.report_url)
    log.info("%s\n%s", message.subject, message.text)
    alerts = config.alerts
    if alerts.notifier == "none" or not alerts.rising_digest:
        return 0
    send_message(alerts, message)
    return len(rows)


# --- a day's run past its deadline ----------------------------------------------------------


def _utc(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _run_day(dag_run: Mapping[str, Any]) -> date | None:
    """The day a run processes, from the run as the REST API shows it (conf.date or logical date)."""
    try:
        return partition_date(
            {"params": dag_run.get("conf") or {}, "logical_date": _utc(dag_run.get("logical_date"))}
        )
    except ValueError:
        return None


def deadline_skip_reason(dag_run: Mapping[str, Any], deadline_time: datetime) -> str | None:
    """Why a missed deadline is not worth a message, or None when it is.

    A backfill, or a manual run of a past day, is created after its day's deadline; it would
    otherwise alert once per day it covers.
    """
    if dag_run.get("run_type") == "backfill":
        return "a backfill run"
    queued = _utc(dag_run.get("queued_at")) or _utc(dag_run.get("run_after"))
    if queued is not None and queued >= deadline_time:
        return f"queued at {queued:%Y-%m-%d %H:%M} UTC, after its deadline"
    return None


def deadline_message(
    dag_run: Mapping[str, Any], deadline_time: datetime, base_url: str | None = None
) -> Message:
    """The e-mail for a daily run that has not finished by its deadline."""
    dag_id = str(dag_run.get("dag_id", "?"))
    run_id = str(dag_run.get("dag_run_id") or dag_run.get("run_id") or "?")
    day = _run_day(dag_run)
    when = f"{deadline_time.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    subject = f"[trendscope] {dag_id} for {day or run_id} not finished by {when}"
    rows = [
        ("Day", str(day or "?")),
        ("Deadline", when),
        ("State", str(dag_run.get("state") or "?")),
        ("DAG", dag_id),
        ("Run", run_id),
    ]
    run_url = f"{base_url.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}" if base_url else None
    if run_url:
        rows.append(("Run page", run_url))
    title = "A Trendscope daily run has not finished by its deadline."
    html_rows = [(k, html.escape(v)) for k, v in rows]
    if run_url:
        html_rows[-1] = ("Run page", _link(run_url))
    return Message("deadline", subject, _text_page(title, rows), _html_page(title, html_rows))


def _api_base_url() -> str | None:
    try:
        from airflow.configuration import conf

        return conf.get("api", "base_url", fallback=None)
    except Exception:
        return None


async def deadline_missed(
    alerts: Mapping[str, Any], context: Mapping[str, Any] | None = None
) -> str:
    """The deadline alert's callback, run by the triggerer: e-mail the late run.

    Args:
        alerts: the ``alerts`` config section (JSON) as the DAG was parsed with.
        context: what Airflow passes: ``{"dag_run": {...}, "deadline": {"deadline_time"}}``.

    Returns:
        What happened, kept by Airflow as the callback's output.
    """
    context = context or {}
    dag_run = context.get("dag_run") or {}
    deadline_time = _utc((context.get("deadline") or {}).get("deadline_time")) or datetime.now(UTC)
    reason = deadline_skip_reason(dag_run, deadline_time)
    if reason:
        log.info("deadline of %s missed, no alert: %s", dag_run.get("dag_run_id"), reason)
        return f"not sent: {reason}"
    config = AlertsConfig.model_validate(alerts)
    message = deadline_message(dag_run, deadline_time, _api_base_url())
    await asend_message(config, message)
    return f"sent to {', '.join(config.to)}: {message.subject}"


def deadline_alert(
    config: TrendscopeConfig, *, logical_time: time = time(0)
) -> DeadlineAlert | None:
    """The ``deadline=`` of the daily DAG, or None when alerts or deadline alerts are off.

    A day's run should finish by :func:`~trendscope.orchestration.schedule.deadline_at`: the day
    has ended in every location, plus ``airflow.late_hours`` and ``airflow.deadline_hours``.
    Airflow takes a fixed interval after the run's logical date, so the interval is the latest
    deadline of the year after 00:00 UTC (under daylight saving time it is up to an hour
    generous), less ``logical_time``, the UTC time of day of the runs' logical dates (the
    timetable's: 12:00 for ``CronDataIntervalTimetable("0 12 * * *")``).
    """
    alerts = config.alerts
    if alerts.notifier == "none" or not alerts.on_deadline:
        return None
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    after_logical = timedelta(hours=logical_time.hour, minutes=logical_time.minute)
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=latest_deadline_offset(config) - after_logical,
        callback=AsyncCallback(deadline_missed, kwargs={"alerts": alerts.model_dump(mode="json")}),
        name="trendscope day not finished",
    )
