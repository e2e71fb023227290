"""``hybridllm serve`` as users run it: a subprocess on uvicorn, drained on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest

from hybridllm.cli.serve_cmd import is_loopback
from hybridllm.ledger import open_store
from hybridllm.mock import MockUpstream

from .conftest import CLAUDE_KEY, GATEWAY_CONFIG, PRIMARY_KEY
from .helpers import CHAT, chat

EXE = Path(sys.executable).parent / "hybridllm"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, mock: MockUpstream) -> tuple[Path, Path]:
    ledger = tmp_path / "serve-ledger.db"
    text = GATEWAY_CONFIG.format(url=mock.url, primary_key=PRIMARY_KEY, claude_key=CLAUDE_KEY)
    path = tmp_path / "hybridllm.yaml"
    path.write_text(text.replace('"sqlite://:memory:"', f"sqlite:///{ledger}"))
    return path, ledger


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_serve_refuses_a_public_host_from_the_env_without_keys(
    tmp_path: Path, mock: MockUpstream
) -> None:
    config, _ = _config(tmp_path, mock)
    env = {**os.environ, "HYBRIDLLM_HOST": "0.0.0.0"}
    proc = await asyncio.create_subprocess_exec(
        str(EXE), "--config", str(config), "serve", "--port", str(_free_port()),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"refusing to serve on 0.0.0.0" in err


async def _wait_until_up(session: aiohttp.ClientSession, url: str, *, tries: int) -> None:
    """Poll ``/healthz`` every 50 ms until the gateway answers 200, or fail the test."""
    for _ in range(tries):
        try:
            async with session.get(url + "/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.05)
    pytest.fail("the gateway did not come up")


async def test_serve_drains_an_in_flight_stream_on_sigterm_and_flushes_the_ledger(
    tmp_path: Path, mock: MockUpstream
) -> None:
    mock.set_faults("primary", [{"chunk_delay": 0.08}])
    config, ledger = _config(tmp_path, mock)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = await asyncio.create_subprocess_exec(
        str(EXE), "--config", str(config), "serve", "--port", str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as session:
            await _wait_until_up(session, url, tries=300)
            body = orjson.dumps(chat("drain me", stream=True))
            headers = {"content-type": "application/json", "x-request-id": "drain-1"}
            async with session.post(url + CHAT, data=body, headers=headers) as resp:
                assert resp.status == 200
                first = await resp.content.readline()
                assert first.startswith(b"data: ")
                proc.send_signal(signal.SIGTERM)
                rest = await resp.read()
            assert rest.endswith(b"data: [DONE]\n\n")
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        # uvicorn re-raises the signal it caught once it has shut down cleanly.
        assert proc.returncode in (0, -signal.SIGTERM), err.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    store = open_store(f"sqlite:///{ledger}")
    try:
        rows = list(store.rows())
    finally:
        store.close()
    assert [(r.request_id, r.status, r.streamed) for r in rows] == [("drain-1", "ok", True)]


def _requests_total(exposition: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith("hybridllm_requests_total{")
    )


async def test_metrics_of_every_worker_reach_the_scrape(tmp_path: Path, mock: MockUpstream) -> None:
    """With --workers 2 a scrape is answered by either worker; each worker's counts are kept
    in-process and published every FLUSH_INTERVAL, so within a few seconds the sum is exact."""
    config, _ = _config(tmp_path, mock)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    proc = await asyncio.create_subprocess_exec(
        str(EXE), "--config", str(config), "serve", "--port", str(port), "--workers", "2",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as session:
            await _wait_until_up(session, url, tries=400)
            body = orjson.dumps(chat("count me"))
            headers = {"content-type": "application/json"}
            for _ in range(20):
                async with session.post(url + CHAT, data=body, headers=headers) as resp:
                    assert resp.status == 200
            seen = []
            for _ in range(50):  # FLUSH_INTERVAL is 1 s: both workers publish within ~1 s
                async with session.get(url + "/metrics") as resp:
                    seen.append(_requests_total(await resp.text()))
                if seen[-1] >= 20:
                    break
                await asyncio.sleep(0.1)
            assert seen[-1] == 20, seen
            assert max(seen) <= 20
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
