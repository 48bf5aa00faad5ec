"""Keep secrets out of logs: a logging filter that masks registered secret values and key-like fields.

Register every secret as soon as it is loaded (``register_secret``); the filter replaces it in log
messages, their arguments and exception text. Known secret shapes (``api_key=...``, ``Bearer ...``,
``X-MBX-APIKEY: ...``) are masked even when nobody registered them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"
_MIN_LEN = 6
_SECRETS: set[str] = set()
_PATTERNS = (
    re.compile(r"(?i)((?:api[_-]?key|api[_-]?secret|secret|password|passphrase|private[_-]?key|token|signature)"
               r"[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}]+)"),
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._\-+/=]+)"),
    re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^:/@\s]*:)([^@\s/]+)(?=@)"),  # password in a URL
    re.compile(r"(?i)(x-(?:mbx-apikey|api-key|cb-access-key|cb-access-sign|cb-access-passphrase)[\"']?\s*[:=]\s*"
               r"[\"']?)([^\s\"',}]+)"),
)


def register_secret(value: str | None) -> None:
    """Remember a secret so that every redacting filter masks it (values shorter than 6 are ignored)."""
    if value and len(value) >= _MIN_LEN:
        _SECRETS.add(value)


def register_secrets(values: Iterable[str | None]) -> None:
    """Register several secrets."""
    for value in values:
        register_secret(value)


def redact(text: str) -> str:
    """``text`` with registered secrets and key-like ``name=value`` pairs masked.

    >>> register_secret("s3cr3t-value-123")
    >>> redact("signing with s3cr3t-value-123 and api_key=abcdef123456")
    'signing with *** and api_key=***'
    >>> redact("connect redis://app:hunter2@127.0.0.1:6379/0")
    'connect redis://app:***@127.0.0.1:6379/0'
    """
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message (and exception text) with :func:`redact`.

    Attach it to handlers (``handler.addFilter(RedactingFilter())``) so it sees records from every logger.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drops it."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            import traceback

            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(logger: logging.Logger | None = None) -> RedactingFilter:
    """Add one :class:`RedactingFilter` to every handler of ``logger`` (the root logger by default)."""
    target = logger or logging.getLogger()
    filt = RedactingFilter()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(filt)
    return filt
