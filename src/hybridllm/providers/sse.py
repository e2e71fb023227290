"""A server-sent events parser over an aiohttp response body.

Follows the WHATWG framing: ``field: value`` lines, an event ends at a blank line, lines end in LF,
CRLF or CR, lines starting with ``:`` are comments, ``data`` lines of one event join with ``\\n``.
Lines are split here rather than with ``StreamReader.readline`` so that a long line (a big tool
call argument) is not limited by aiohttp's line buffer. A dropped connection mid-stream, or a data
line that is not JSON, is a :class:`~hybridllm.errors.StreamBrokenError`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from hybridllm.errors import StreamBrokenError

if TYPE_CHECKING:
    from hybridllm.config.models import Deployment

__all__ = ["SSEDecoder", "SSEEvent", "iter_sse", "parse_data"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str  # "message" when the server named none
    data: str


class SSEDecoder:
    """Incremental: feed it bytes as they arrive, get back the events they complete."""

    __slots__ = ("_buffer", "_data", "_event")

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buffer = self._buffer + chunk
        if b"\r" in buffer:
            held = buffer.endswith(b"\r")  # maybe the first half of a CRLF: wait for the next
            if held:
                buffer = buffer[:-1]
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if held:
                buffer += b"\r"
        *lines, self._buffer = buffer.split(b"\n")
        events: list[SSEEvent] = []
        for line in lines:
            self._line(line.decode("utf-8", "replace"), events)
        return events

    def close(self) -> list[SSEEvent]:
        """The end of the body: a last event without its blank line is taken as it is."""
        events: list[SSEEvent] = []
        if self._buffer:
            self._line(self._buffer.rstrip(b"\r").decode("utf-8", "replace"), events)
            self._buffer = b""
        self._line("", events)
        return events

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                events.append(SSEEvent(self._event or "message", "\n".join(self._data)))
            self._event, self._data = "", []
            return
        if line[0] == ":":
            return
        field, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value


async def iter_sse(
    resp: aiohttp.ClientResponse, deployment: Deployment
) -> AsyncGenerator[SSEEvent, None]:
    """The events of a streamed response body."""
    decoder = SSEDecoder()
    try:
        async for chunk in resp.content.iter_any():
            for event in decoder.feed(chunk):
                yield event
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
        raise StreamBrokenError(
            f"{deployment.name}: stream interrupted ({type(exc).__name__})",
            deployment=deployment.name,
        ) from exc
    for event in decoder.close():
        yield event


def parse_data(event: SSEEvent, deployment: Deployment) -> Any:
    """The JSON of an event's data; malformed JSON breaks the stream."""
    try:
        return orjson.loads(event.data)
    except orjson.JSONDecodeError:
        raise StreamBrokenError(
            f"{deployment.name}: malformed stream event ({len(event.data)} bytes)",
            deployment=deployment.name,
        ) from None
