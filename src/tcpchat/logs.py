"""Log lines, as text for people or as JSON for log shippers (``--log-format``).

A log call may carry structured fields in ``extra``: a connection's line names
``address``, ``door`` (the front door it came in by: ``line``, ``irc`` or ``web``), ``nick``
and ``reason``. The text format has them in its sentence already; the JSON
format writes them as fields of the line's object, beside ``time``, ``level``,
``logger`` and ``message``.

What is logged never holds a password, an API key or what anyone wrote: the
log calls name people and connections, never the text they send.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: The attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, then the fields.

    Control characters and everything past ASCII are escaped, so that one record
    is always one line, whatever a field holds.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and name not in entry:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def announce(message: str, log_format: str, stream: TextIO | None = None, **fields: Any) -> None:
    """Write a line to stderr whatever the log level (where the server listens, say).

    In the JSON format it is a log line like the others, so that every line a
    log shipper reads is one JSON object; in the text format it is the bare words.
    """
    if log_format == "json":
        record = logging.makeLogRecord(
            {"name": "tcpchat", "levelno": logging.INFO, "levelname": "INFO", "msg": message}
        )
        record.__dict__.update(fields)
        line = JsonFormatter().format(record)
    else:
        line = message
    print(line, file=sys.stderr if stream is None else stream, flush=True)


def configure_logging(level: str, log_format: str = "text", stream: TextIO | None = None) -> None:
    """Send tcpchat's log to ``stream`` (stderr) at ``level``, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=logging.getLevelNamesMapping()[level.upper()], handlers=[handler])
