"""A Slack incoming-webhook stand-in: a real HTTP server on loopback that records each post.

Built on pytest-httpserver's `HTTPServer` (werkzeug), which also runs outside pytest, so the
local replay and the tests receive Slack posts the same way.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pytest_httpserver import HTTPServer

__all__ = ["WEBHOOK_PATH", "SlackCapture"]

WEBHOOK_PATH = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"


class SlackCapture:
    """Answers webhook posts with `status` (200 "ok" by default) and keeps their JSON bodies."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = HTTPServer(host="127.0.0.1", port=0)
        self._read = 0
        self.respond_with(200)

    def start(self) -> SlackCapture:
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server.is_running():
            self._server.stop()

    def __enter__(self) -> SlackCapture:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._server.url_for(WEBHOOK_PATH)

    def respond_with(self, status: int, body: str = "ok") -> None:
        """Answer every later post with `status` (e.g. 500 to test failure handling)."""
        self._server.clear_all_handlers()
        self._server.expect_request(WEBHOOK_PATH, method="POST").respond_with_data(body, status=status)

    @property
    def requests_seen(self) -> int:
        return len(self._server.log)

    def received(self) -> list[dict[str, Any]]:
        """JSON payloads posted successfully since the last call."""
        payloads = []
        for request, response in self._server.log[self._read :]:
            if response.status_code == 200:
                payloads.append(json.loads(request.get_data(as_text=True)))
        self._read = len(self._server.log)
        return payloads
