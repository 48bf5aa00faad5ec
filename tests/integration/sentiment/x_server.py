"""A local stand-in for X API v2's filtered stream: stateful rules and scripted, chunked stream connections.

Formats follow X's documentation: rules GET/POST bodies with ``data``/``meta.summary``/``errors``,
and a chunked ``/2/tweets/search/stream`` with ``\\r\\n`` keep-alive lines between posts.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
KEEP_ALIVE = b"\r\n"


def stream_posts() -> list[bytes]:
    """The 12 recorded stream lines (real tweets, see fixtures/README.md), each ending in ``\\r\\n``."""
    lines = (FIXTURES / "x_stream_posts.jsonl").read_bytes().splitlines()
    return [line + b"\r\n" for line in lines if line.strip()]


@dataclass(frozen=True)
class Status:
    """Answer a stream connect with an HTTP error."""

    code: int
    body: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stream:
    """Answer 200 and send ``chunks``; then ``end``: ``close`` (last chunk), ``abort`` (socket dropped in
    the middle of a chunk) or ``stall`` (silence until the server stops)."""

    chunks: tuple[bytes, ...]
    end: str = "close"
    partial: bytes = b""


@dataclass(frozen=True)
class Reset:
    """Close the socket without any answer (a network-level failure)."""


@dataclass
class FakeX:
    """Rules state, the scripted connections (one per connect) and every request seen."""

    token: str
    base_url: str = ""
    rules: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    scripts: list[Status | Stream | Reset] = field(default_factory=list)
    requests: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _next_id: int = 1579004427004923904

    def add_rule(self, value: str, tag: str | None) -> str:
        """Create a rule as X would; return its id."""
        self._next_id += 1
        self.rules[str(self._next_id)] = (value, tag)
        return str(self._next_id)

    def active(self) -> set[tuple[str, str | None]]:
        """The active rules as (value, tag)."""
        return set(self.rules.values())


def _rules_get(api: FakeX) -> dict[str, object]:
    data = [{"id": i, "value": v, **({"tag": t} if t is not None else {})} for i, (v, t) in api.rules.items()]
    meta = {"sent": "2022-10-08T10:00:00.000Z", "result_count": len(data)}
    return {"data": data, "meta": meta} if data else {"meta": meta}


def _rules_post(api: FakeX, body: dict[str, object]) -> dict[str, object]:
    if "delete" in body:
        ids = body["delete"]["ids"]  # type: ignore[index]
        deleted = [i for i in ids if api.rules.pop(i, None) is not None]
        return {"meta": {"sent": "2022-10-08T10:00:01.000Z",
                         "summary": {"deleted": len(deleted), "not_deleted": len(ids) - len(deleted)}}}
    created, errors = [], []
    for rule in body["add"]:  # type: ignore[union-attr]
        if any(v == rule["value"] for v, _ in api.rules.values()):
            errors.append({"value": rule["value"], "id": "0", "title": "DuplicateRule",
                           "type": "https://api.twitter.com/2/problems/duplicate-rules"})
            continue
        rid = api.add_rule(rule["value"], rule.get("tag"))
        created.append({"value": rule["value"], **({"tag": rule["tag"]} if "tag" in rule else {}), "id": rid})
    out: dict[str, object] = {"meta": {"sent": "2022-10-08T10:00:01.000Z", "summary": {
        "created": len(created), "not_created": len(errors), "valid": len(created), "invalid": len(errors)}}}
    if created:
        out["data"] = created
    if errors:
        out["errors"] = errors
    return out


def serve_fake_x(api: FakeX) -> Iterator[FakeX]:
    """Run ``api`` on 127.0.0.1 until the generator is closed."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _json(self, status: int, doc: dict[str, object], headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(doc).encode()
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            api.requests.append((self.command, self.path, self.headers.get("Authorization", ""), body))
            if self.headers.get("Authorization") != f"Bearer {api.token}":
                self._json(401, {"title": "Unauthorized", "type": "about:blank", "status": 401,
                                 "detail": "Unauthorized"})
                return
            path = self.path.split("?", 1)[0]
            if path == "/2/tweets/search/stream/rules":
                self._json(200, _rules_get(api) if self.command == "GET" else _rules_post(api, json.loads(body)))
            elif path == "/2/tweets/search/stream" and self.command == "GET":
                self._stream()
            else:
                self._json(404, {"title": "Not Found Error"})

        def _stream(self) -> None:
            script = api.scripts.pop(0) if api.scripts else Status(503, {"title": "Service Unavailable"})
            if isinstance(script, Reset):
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if isinstance(script, Status):
                self._json(script.code, script.body, script.headers)
                return
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in script.chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            if script.end == "abort":  # announce a chunk, send part of it, drop the connection
                self.wfile.write(b"%x\r\n%s" % (len(script.partial) + 40, script.partial))
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            elif script.end == "stall":
                api.stop.wait(30)
            else:
                self.wfile.write(b"0\r\n\r\n")

        do_GET = _handle
        do_POST = _handle

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    api.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.stop.set()
        server.shutdown()
        server.server_close()
