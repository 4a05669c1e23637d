"""structlog set-up: JSON in production, readable in a terminal, PHI redacted, Temporal context bound.

Workflow code logs through `workflow.logger` (replay-aware, sandbox-safe) and activities
through `activity.logger` or structlog; both reach the same ProcessorFormatter, which
lifts the Temporal context (case id, workflow id, activity) and the request id of the API
call that caused the work (`runtime.tracing`) into fields on every line.

Tokens are masked on every line: in this pipeline by `redact_phi`, and at the source, whatever
handler writes them, in the lines of aiohttp's own loggers (`mask_secrets_at_source`), whose
errors quote the request line or header they refused.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger
from temporalio import activity, workflow
from temporalio.runtime import LogForwardingConfig, LoggingConfig, TelemetryFilter

from models.case import case_id_from_workflow_id
from runtime.tracing import current_request_id
from security.redaction import redact_phi
from security.secret_text import mask_secrets

# The loggers whose lines may quote what a client sent: aiohttp's, and asyncio's (an exception
# that escaped a task).
SOURCE_LOGGERS = (
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
    "asyncio",
)


class SecretFilter(logging.Filter):
    """Masks tokens in a record before any handler sees it: its message and its traceback.

    A record with nothing to mask is left as it is; one with a token has its traceback folded
    into the masked message (an exception object cannot be masked, only its text).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        exc = record.exc_info
        trace = logging.Formatter().formatException(exc) if exc and exc[0] is not None else ""
        text = f"{message}\n{trace}" if trace else message
        if (masked := mask_secrets(text)) != text:
            record.msg, record.args = masked, ()
            record.exc_info, record.exc_text = None, None
        return True


def mask_secrets_at_source(names: Iterable[str] = SOURCE_LOGGERS) -> None:
    """Put the `SecretFilter` on these loggers (once); every handler then gets masked lines."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretFilter) for f in logger.filters):
            logger.addFilter(SecretFilter())


def _temporal_context(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    wf: dict[str, Any] | None = getattr(record, "temporal_workflow", None)
    act: dict[str, Any] | None = getattr(record, "temporal_activity", None)
    if wf:
        event_dict.setdefault("workflow_id", wf.get("workflow_id"))
        event_dict.setdefault("run_id", wf.get("run_id"))
    if act:
        event_dict.setdefault("workflow_id", act.get("workflow_id"))
        event_dict.setdefault("activity", act.get("activity_type"))
    wid = event_dict.get("workflow_id")
    if isinstance(wid, str) and "case_id" not in event_dict:
        event_dict["case_id"] = case_id_from_workflow_id(wid)
    return event_dict


def _request_id(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """The id of the API call that caused this line (set by the API, carried by `runtime.tracing`)."""
    rid = current_request_id()
    if rid is not None:
        event_dict.setdefault("request_id", rid)
    return event_dict


def core_logging() -> LoggingConfig:
    """The SDK core's own lines (poll errors, server warnings) forwarded into this pipeline, so
    they come out as JSON like the rest instead of in the core's console format."""
    return LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _temporal_context,
        _request_id,
        redact_phi,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            *shared[:1],
            structlog.stdlib.filter_by_level,
            *shared[1:],
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # The context travels as fields; keep the message itself clean.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    for noisy in ("aiosmtpd", "mail.log", "aiohttp.access", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    mask_secrets_at_source()
