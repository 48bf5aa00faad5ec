"""A local HTTP server for source tests: routes -> queued (status, headers, body) responses, requests recorded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class FakeApi:
    """Serves queued responses per path (the last one repeats) and records every request."""

    base_url: str = ""
    routes: dict[str, list[tuple[int, dict[str, str], bytes]]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    def add(self, path: str, body: bytes, *, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Queue a response for ``path`` (without query string)."""
        self.routes.setdefault(path, []).append((status, headers or {}, body))

    def paths(self) -> list[str]:
        """Full request paths (with query) in order."""
        return [r[1] for r in self.requests]


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    """Start the server on 127.0.0.1 and stop it after the test."""
    api = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            api.requests.append((self.command, self.path, dict(self.headers), body))
            queue = api.routes.get(self.path.split("?", 1)[0])
            if not queue:
                self.send_response(404)
                self.end_headers()
                return
            status, headers, payload = queue.pop(0) if len(queue) > 1 else queue[0]
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield api
    server.shutdown()
    server.server_close()
