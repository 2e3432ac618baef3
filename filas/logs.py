"""Logging setup shared by every service: JSON lines in production, a plain format for `make run`.

Every line written while a job runs carries the job's id, actor and queue (JobContext), in both formats.
Personal data is masked where it is logged (filas.phones.mask_phone and the callers), never here.

Under the `dramatiq` CLI the root logger already has a handler (the pipe each worker process writes to its
parent through): that handler is kept and only its format changes. The CLI's own parent process keeps
Dramatiq's format for its few lines (boot and shutdown).
"""

import logging
from enum import StrEnum

from dramatiq.common import q_name
from dramatiq.middleware import CurrentMessage
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from filas.settings import get_settings

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s%(job)s"
JSON_FIELDS = ("levelname", "name", "process", "threadName", "message")
JSON_RENAMES = {"levelname": "level", "name": "logger", "threadName": "thread"}


class LogFormat(StrEnum):
    JSON = "json"
    PLAIN = "plain"


class JobContext(logging.Filter):
    """Adds the running job (Dramatiq's CurrentMessage) to a record: `job_fields` (job_id, actor, queue;
    empty outside a job) and `job`, the same as text for the plain format."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = CurrentMessage.get_current_message()
        if message is None:
            record.job_fields, record.job = {}, ""
        else:
            queue = q_name(message.queue_name)
            record.job_fields = {"job_id": message.message_id, "actor": message.actor_name, "queue": queue}
            record.job = f" [job {message.message_id} {message.actor_name} on {queue}]"
        return True


class JobJsonFormatter(JsonFormatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, process, thread, message, the job
    fields inside a job, and exc_info when there is an exception."""

    def __init__(self):
        super().__init__(list(JSON_FIELDS), rename_fields=JSON_RENAMES, timestamp="time",
                         reserved_attrs=[*RESERVED_ATTRS, "job", "job_fields"], json_ensure_ascii=False)

    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_record, record, message_dict)
        log_record.update(getattr(record, "job_fields", {}))


def formatter(log_format: LogFormat) -> logging.Formatter:
    if log_format == LogFormat.JSON:
        return JobJsonFormatter()
    return logging.Formatter(PLAIN_FORMAT)


def configure_logging(level: str, log_format: str | None = None) -> None:
    """`log_format` defaults to the FILAS_LOG_FORMAT setting."""
    if log_format is None:
        log_format = get_settings().log_format
    root = logging.getLogger()
    root.setLevel(level.upper())
    # One line per gateway call at INFO is a line per WhatsApp message; our own log says what was sent.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    chosen = formatter(LogFormat(log_format))
    for handler in root.handlers:
        handler.setFormatter(chosen)
        if not any(isinstance(existing, JobContext) for existing in handler.filters):
            handler.addFilter(JobContext())


def configured_formatter() -> logging.Formatter:
    return formatter(LogFormat(get_settings().log_format))


def gunicorn_logconfig() -> dict:
    """gunicorn's `logconfig_dict`: its error and access logs in the same format as everything else, on
    stderr (an access line's message is gunicorn's access_log_format)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"job": {"()": JobContext}},
        "formatters": {"filas": {"()": configured_formatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "filas", "filters": ["job"],
                                "stream": "ext://sys.stderr"}},
        "root": {"level": get_settings().log_level.upper(), "handlers": ["stderr"]},
        "loggers": {"gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
                    "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True}},
    }
