"""Logs hold no secret and no prompt, at any level: quiet wire loggers and a redaction filter.

Two layers, because either alone leaks:

1. The libraries that log request and response bodies or headers at DEBUG (botocore logs
   the Converse body, i.e. the prompt, and the signed headers; urllib3, hpack and httpcore
   log wire events) are held at WARNING whatever DEBUG says: `quiet_wire_loggers`.
2. `RedactingFilter`, on the log handler, rewrites every record's text (message, fields and
   traceback) so that bearer tokens, API keys, JWTs, AWS access key ids, secret keys,
   signatures and session tokens become `[redacted]`, whoever logged them.
"""

from __future__ import annotations

import logging
import re

# Loggers that write wire content (bodies, headers, signatures) at DEBUG.
WIRE_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "hpack", "httpcore", "h2", "grpc._cython")

_REDACTED = "[redacted]"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Header or field names whose whole value is secret: Authorization, x-api-key, session tokens, ...
    (
        re.compile(
            r"(?i)((?:authorization|x-api-key|x-amz-security-token|x-amz-content-sha256|aws_secret_access_key|"
            r"secret_access_key|session_token|aws_session_token|server_secret)[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)"
            r"[^\s\"',}]+"
        ),
        r"\1" + _REDACTED,
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + _REDACTED),
    (re.compile(r"sk-llmgw-[A-Za-z0-9_-]+"), "sk-llmgw-" + _REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), _REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b"), _REDACTED),
    (re.compile(r"(?i)(signature\s*=\s*)[0-9a-f]{16,}"), r"\1" + _REDACTED),
    (re.compile(r"(?i)(credential\s*=\s*)[^\s,/]+"), r"\1" + _REDACTED),
)


# Every match of a pattern above contains one of these (case-folded): a text holding none of them
# is returned as it is, so the common log line costs one casefold and a few substring tests
# rather than seven regular-expression passes.
_MARKERS = (
    "authorization",
    "x-api-key",
    "x-amz-",
    "secret_access_key",
    "session_token",
    "server_secret",
    "bearer",
    "sk-llmgw-",
    "eyj",
    "akia",
    "asia",
    "aida",
    "aroa",
    "signature",
    "credential",
)


def redact(text: str) -> str:
    """The text with every credential-shaped substring replaced by `[redacted]`."""
    folded = text.casefold()
    if not any(marker in folded for marker in _MARKERS):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, fields and traceback through `redact` before it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; never drops it."""
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {name: redact(value) if isinstance(value, str) else value for name, value in fields.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def quiet_wire_loggers() -> None:
    """Hold the wire-logging libraries at WARNING, so DEBUG=true never logs a body or a signature."""
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
