"""A deadline for a request's headers, which no ASGI layer can give: the app is called only
once they are complete. uvicorn bounds their size (`h11_max_incomplete_event_size`) and
an idle keep-alive connection (`timeout_keep_alive`), but not a client that sends a header
line every few seconds; this protocol answers such a client 408 and closes its connection.
"""

from __future__ import annotations

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from axis.api.problems import MEDIA_TYPE
from axis.problem import Problem


def _timeout_answer(seconds: float) -> bytes:
    detail = f"the request headers did not arrive within {seconds:g} s"
    body = json.dumps(Problem(408, "request_timeout", "Request timeout", detail).body()).encode()
    head = (
        f"HTTP/1.1 408 Request Timeout\r\ncontent-type: {MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


def with_header_deadline(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, with the headers of each request due within `seconds` of the
    connection opening or of the request's first byte (an idle kept-alive connection is
    uvicorn's `timeout_keep_alive`'s)."""
    answer = _timeout_answer(seconds)

    class HeaderDeadlineProtocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._header_timer = self.loop.call_later(seconds, self._headers_due)

        def data_received(self, data: bytes) -> None:
            if self._header_timer is None and self.conn.their_state is h11.IDLE:
                self._header_timer = self.loop.call_later(seconds, self._headers_due)
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._stop_timer()  # the headers are in

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_timer()
            super().connection_lost(exc)

        def _stop_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_due(self) -> None:
            """Still waiting for a request's headers: 408 to a client that began one; a
            connection where none began is only closed."""
            self._header_timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            began, _ = self.conn.trailing_data
            if began:
                self.transport.write(answer)
            self.transport.close()

    return HeaderDeadlineProtocol
