"""What the hardening tests share: the mock upstream and the gateway on loopback, a client that
records every complete reply, and readers for SSE streams and the ledger.

- :class:`ThreadedMock`: the mock upstream on its own event loop thread (its records stay readable).
- :class:`GatewayThread`: the gateway app (uvicorn) on its own event loop thread, so that its
  asyncio tasks can be counted apart from the client's.
- :class:`ServeProcess`: ``hybridllm serve`` as users run it, a subprocess to ``kill -9``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvicorn

from hybridllm.ledger import open_store
from hybridllm.ledger.row import LedgerRow
from hybridllm.mock import FaultRule, MockUpstream
from hybridllm.router import Router
from hybridllm.server import create_app
from hybridllm.server.gateway import Gateway

EXE = Path(sys.executable).parent / "hybridllm"
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the mock upstream ---------------------------------------------------------------------------


class ThreadedMock:
    """The mock upstream on its own event loop thread, so its tasks never mix with ours."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.mock = MockUpstream()
        self.call(self.mock.start())

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    @property
    def url(self) -> str:
        return str(self.mock.url)

    def set_faults(self, prefix: str, rules: list[dict[str, Any]]) -> None:
        typed: list[FaultRule | dict[str, Any]] = list(rules)
        self.loop.call_soon_threadsafe(self.mock.set_faults, prefix, typed)
        self.call(asyncio.sleep(0))  # applied before we go on

    def reset(self) -> None:
        self.loop.call_soon_threadsafe(self.mock.reset)
        self.call(asyncio.sleep(0))

    def close(self) -> None:
        self.call(self.mock.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


# -- the gateway, in process ---------------------------------------------------------------------

_routers: dict[str, Router] = {}


def cached_router(config_path: Path) -> Router:
    """Building a router compiles the PII scanner (slow); routers hold no request state."""
    text = config_path.read_text()
    router = _routers.get(text)
    if router is None:
        router = _routers[text] = Router.from_config(config_path)
    return router


class AppThread:
    """An ASGI app on a loopback socket, served by uvicorn on an event loop thread of its own."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app,
            loop="asyncio",
            http="httptools",
            ws="none",
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
            backlog=2048,
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="gateway")
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and self.thread.is_alive():
            if time.monotonic() > deadline:
                raise TimeoutError("the gateway did not start within 30 s")
            time.sleep(0.01)
        if self.failure is not None or not self.server.started:
            raise RuntimeError(f"the gateway failed to start: {self.failure!r}")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))
        except BaseException as exc:  # reported by __init__ / stop
            self.failure = exc
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run ``coro`` on the gateway's loop (e.g. to read budget counters)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def task_count(self) -> int:
        async def count() -> int:
            return len(asyncio.all_tasks()) - 1  # not this one

        return int(self.call(count()))

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(setattr, self.server, "should_exit", True)
            self.thread.join(30)
        self.sock.close()


class GatewayThread(AppThread):
    """The gateway over ``config_path``, writing its ledger to ``ledger_url``."""

    def __init__(self, config_path: Path, ledger_url: str) -> None:
        self.ledger_url = ledger_url
        app = create_app(cached_router(config_path), ledger_url=ledger_url)
        self.gateway: Gateway = app.state.gateway
        super().__init__(app)

    def flush(self) -> None:
        runtime = self.gateway.runtime
        if runtime is not None and runtime.writer is not None:
            runtime.writer.flush(30)

    def rows(self) -> list[LedgerRow]:
        self.flush()
        return read_rows(self.ledger_url)


def read_rows(ledger_url: str) -> list[LedgerRow]:
    store = open_store(ledger_url)
    try:
        return list(store.rows())
    finally:
        store.close()


# -- the gateway, as users run it ----------------------------------------------------------------


class ServeProcess:
    """``hybridllm --config X serve --port P``; started, killed with SIGKILL, started again."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config = config
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, session: aiohttp.ClientSession, wait_s: float = 60) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 (fork+exec, no wait)
                [str(EXE), "--config", str(self.config), "serve", "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.config.parent,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hybridllm serve exited with {self.proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(self.url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"hybridllm serve did not answer /healthz within {wait_s} s")

    def kill(self) -> None:
        """``kill -9``: no drain, no flush, no atexit."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.kill()


# -- the client ----------------------------------------------------------------------------------


def chat_body(text: str, *, stream: bool = False, **extra: Any) -> bytes:
    body: dict[str, Any] = {
        "model": "auto",
        "messages": [{"role": "user", "content": text}],
        "stream": stream,
        **extra,
    }
    return orjson.dumps(body)


def anthropic_body(text: str, *, stream: bool = False) -> bytes:
    body = {
        "model": "auto",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
        "stream": stream,
    }
    return orjson.dumps(body)


def sse_events(body: bytes) -> list[tuple[str, str]]:
    """(event name, data) for every SSE event; the name is "message" when none is given."""
    out: list[tuple[str, str]] = []
    for block in body.decode(errors="replace").split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        out.append((name, "\n".join(data)))
    return out


@dataclass
class StreamShape:
    """What a stream carried: its text, how it ended, and anything a caller would trip on."""

    text: str = ""
    done_events: int = 0  # OpenAI: "[DONE]"; Anthropic: "message_stop"
    starts: int = 0  # Anthropic: "message_start"
    errors: list[dict[str, Any]] = field(default_factory=list)
    after_end: int = 0  # events after the terminal one
    unparsable: int = 0

    @property
    def complete(self) -> bool:
        return self.done_events == 1 and not self.errors and self.after_end == 0


def openai_stream(body: bytes) -> StreamShape:
    shape = StreamShape()
    for _, data in sse_events(body):
        if shape.done_events:
            shape.after_end += 1
        if data == "[DONE]":
            shape.done_events += 1
            continue
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            shape.unparsable += 1
            continue
        if "error" in event:
            shape.errors.append(event["error"])
            continue
        for choice in event.get("choices") or ():
            shape.text += (choice.get("delta") or {}).get("content") or ""
    return shape


def anthropic_stream(body: bytes) -> StreamShape:
    shape = StreamShape()
    for name, data in sse_events(body):
        if shape.done_events:
            shape.after_end += 1
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            shape.unparsable += 1
            continue
        kind = event.get("type", name)
        if kind == "message_start":
            shape.starts += 1
        elif kind == "message_stop":
            shape.done_events += 1
        elif kind == "error":
            shape.errors.append(event.get("error") or {})
        elif kind == "content_block_delta":
            shape.text += (event.get("delta") or {}).get("text") or ""
    return shape


# -- process resources ---------------------------------------------------------------------------


def rss_bytes(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc status")


def socket_fds(pid: int | str = "self") -> int:
    n = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd).startswith("socket:"):
                n += 1
    return n


def tcp_peers(pid: int | str = "self") -> Iterator[tuple[str, int, str, int, str]]:
    """(local ip, local port, remote ip, remote port, state) of every TCP socket of ``pid``."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            parts = line.split()
            if len(parts) < 10 or parts[9] not in inodes:
                continue
            local, remote, state = parts[1], parts[2], parts[3]
            yield (*_endpoint(local), *_endpoint(remote), state)


def _endpoint(text: str) -> tuple[str, int]:
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:  # /proc prints IPv6 as four little-endian 32-bit words
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        ip = socket.inet_ntop(socket.AF_INET6, words)
    return ip, int(port, 16)
