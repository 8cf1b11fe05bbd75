"""Log formats: one JSON object per line with the record's fields, or text with key=value fields."""

from __future__ import annotations

import io
import json
import logging

from llmgw.server.rpc.logging_setup import JsonFormatter, TextFormatter, configure_logging


def _record(**fields: object) -> logging.LogRecord:
    record = logging.LogRecord("llmgw.requests", logging.INFO, __file__, 1, "request %s", ("done",), None)
    record.fields = fields
    return record


def test_json_line_holds_the_message_and_fields() -> None:
    """The record becomes one JSON object with time, level, logger, message and every field."""
    line = JsonFormatter().format(_record(request_id="req_1", input_tokens=3))
    assert "\n" not in line
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["message"]) == ("info", "llmgw.requests", "request done")
    assert (entry["request_id"], entry["input_tokens"]) == ("req_1", 3)


def test_text_line_appends_fields() -> None:
    """The text format keeps the classic line and appends key=value fields."""
    assert TextFormatter().format(_record(code="OK")).endswith("request done code=OK")


def test_configure_logging_replaces_the_root_handlers() -> None:
    """After configuring, records go to the given stream in the chosen format, at INFO."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        configure_logging("json", debug=False, stream=stream)
        logging.getLogger("llmgw.test").info("hello %d", 1)
        logging.getLogger("llmgw.test").debug("hidden")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    [line] = stream.getvalue().splitlines()
    assert json.loads(line)["message"] == "hello 1"
