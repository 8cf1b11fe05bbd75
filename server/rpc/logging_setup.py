"""Structured logs: one JSON object per line on stderr, ready for a log pipeline.

Every record becomes `{"time", "level", "logger", "message"}` plus the fields a
caller attached as `extra={"fields": {...}}` (the per-request line of
server/rpc/observability.py carries its request id, method, status, caller, model,
tokens, cost and timings that way). Exceptions are rendered as their type and
message plus the traceback, since only the gateway's own operators read these.
LOG_FORMAT=text keeps the classic one-line format for people at a terminal.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

from llmgw.server.rpc.redaction import RedactingFilter, quiet_wire_loggers
from llmgw.server.settings import LogFormat

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON; `process_fields` (e.g. the worker index) go on every line."""

    def __init__(self, process_fields: Mapping[str, object] | None = None) -> None:
        super().__init__()
        self._process_fields = dict(process_fields or {})

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object on one line."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **self._process_fields,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic one-line format, with the process's and the record's fields appended as key=value."""

    def __init__(self, process_fields: Mapping[str, object] | None = None) -> None:
        super().__init__(TEXT_FORMAT)
        self._suffix = "".join(f" {name}={value}" for name, value in (process_fields or {}).items())

    def format(self, record: logging.LogRecord) -> str:
        """The record on one line, fields last."""
        text = super().format(record) + self._suffix
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            text += "".join(f" {name}={value}" for name, value in fields.items())
        return text


def configure_logging(
    log_format: LogFormat,
    debug: bool,
    stream: TextIO | None = None,
    process_fields: Mapping[str, object] | None = None,
) -> None:
    """Send the process's logs to `stream` (stderr) in the chosen format, at INFO (DEBUG when debugging).

    `process_fields` are added to every line: a worker of `llmgw serve --workers N` names itself.
    Whatever the level, the wire loggers stay at WARNING and every record passes the
    redaction filter (redaction.py): logs hold no secret and no prompt.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter = JsonFormatter(process_fields) if log_format == "json" else TextFormatter(process_fields)
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    quiet_wire_loggers()
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
