"""Keys never appear in logs, exceptions or reprs."""

from __future__ import annotations

import io
import logging

import pytest
from pydantic import SecretStr

from actors.brokers.errors import OrderRejected
from cluster.redact import RedactingFilter, install, redact, register_secret

KEY = "AKIA-test-key-0123456789"
SECRET = "s3cr3t+base64/VALUE=="


@pytest.fixture
def captured() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger("test.redact")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.handlers = []
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    install(logger)
    return logger, stream


def test_registered_secrets_are_masked_in_messages_args_and_tracebacks(
        captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    register_secret(KEY)
    register_secret(SECRET)
    logger.warning("signing request with key %s and secret %r", KEY, SECRET)
    try:
        raise OrderRejected(f"venue said no to {KEY}", reason=f"bad signature {SECRET}")
    except OrderRejected:
        logger.exception("submit failed")
    out = stream.getvalue()
    assert KEY not in out and SECRET not in out
    assert out.count("***") >= 3 and "submit failed" in out and "OrderRejected" in out


def test_unregistered_key_shapes_are_masked(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.info("headers={'X-MBX-APIKEY': 'zzzunregistered999'} url=/api?signature=abc123def456&x=1")
    logger.info("Authorization: Bearer eyJhbGciOi.payload.sig and password=hunter2hunter")
    out = stream.getvalue()
    for leaked in ("zzzunregistered999", "abc123def456", "eyJhbGciOi.payload.sig", "hunter2hunter"):
        assert leaked not in out
    assert "x=1" in out


def test_filter_never_drops_records() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "plain %d", (5,), None)
    assert RedactingFilter().filter(record) and record.getMessage() == "plain 5"


def test_secret_str_keeps_keys_out_of_reprs() -> None:
    from cluster.commands.trade import VenueKeys

    keys = VenueKeys(api_key=SecretStr(KEY), api_secret=SecretStr(SECRET))
    assert KEY not in repr(keys) and SECRET not in str(keys) and KEY not in redact(repr(keys.model_dump()))
