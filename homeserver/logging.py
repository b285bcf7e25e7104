"""Logging setup: request ids on every line, secrets never written.

``request_id_var`` is set by the request middleware; ``RequestIdFilter`` puts
it on each record. ``RedactSecretsFilter`` masks access tokens, passwords and
other secrets that might end up in a message or its arguments.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_SECRET_PATTERNS = [
    # access_token=... in URLs, "password": "..." in JSON, Bearer headers
    re.compile(r"(access_token=)[^&\s\"']+", re.IGNORECASE),
    re.compile(
        r"(\"(?:password|new_password|access_token|refresh_token|token|mac|shared_secret|"
        r"registration_shared_secret)\"\s*:\s*\")[^\"]*",
        re.IGNORECASE,
    ),
    re.compile(
        r"('(?:password|new_password|access_token|refresh_token|token|mac)'\s*:\s*')[^']*",
        re.IGNORECASE,
    ),
    re.compile(r"(Bearer\s+)\S+", re.IGNORECASE),
    # our own token formats
    re.compile(r"()\b(?:hs[art]_[A-Za-z0-9_-]{20,})"),
]


def redact_secrets(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "<redacted>", text)
    return text


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_secrets(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactSecretsFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
