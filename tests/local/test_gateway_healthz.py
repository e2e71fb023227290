"""The gateway stays responsive while the in-process model generates."""

from __future__ import annotations

import asyncio
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

CONFIG = """
deployments:
  local:
    provider: llamacpp
    model: gemma-3-270m
    tier: 1
    n_ctx: 2048
    warm_up: true
routes:
  - name: default
    use: [local]
ledger: sqlite:///{ledger}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.usefixtures("local_tier")
async def test_healthz_answers_within_50ms_while_the_local_model_generates(tmp_path: Path) -> None:
    config = tmp_path / "hybridllm.yaml"
    config.write_text(CONFIG.format(ledger=tmp_path / "l.db"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with subprocess.Popen(  # noqa: ASYNC220 - starting a process does not block for long
        [sys.executable, "-m", "hybridllm", "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as proc:
        try:
            async with aiohttp.ClientSession() as session:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:  # the model warms up before serving
                    try:
                        async with session.get(base + "/healthz") as resp:
                            if resp.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.2)
                body = {
                    "model": "auto",
                    "stream": True,
                    "max_tokens": 96,
                    "messages": [
                        {"role": "user", "content": "Tell a long story about a lighthouse."}
                    ],
                }
                generating = asyncio.Event()
                done = asyncio.Event()

                async def stream() -> int:
                    chunks = 0
                    async with session.post(base + "/v1/chat/completions", json=body) as resp:
                        assert resp.status == 200
                        async for _line in resp.content:
                            chunks += 1
                            if chunks == 3:
                                generating.set()
                    done.set()
                    return chunks

                task = asyncio.create_task(stream())
                await asyncio.wait_for(generating.wait(), 60)
                latencies: list[float] = []
                while not done.is_set() and len(latencies) < 40:
                    t0 = time.perf_counter()
                    async with session.get(base + "/healthz") as resp:
                        assert resp.status == 200
                        await resp.read()
                    latencies.append((time.perf_counter() - t0) * 1000)
                    await asyncio.sleep(0.02)
                assert await task > 10
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert len(latencies) >= 5, "the generation ended before /healthz could be measured"
    latencies.sort()
    p90 = latencies[int(len(latencies) * 0.9) - 1]
    print(
        f"healthz while generating: n={len(latencies)} p50={statistics.median(latencies):.1f} ms p90={p90:.1f} ms max={latencies[-1]:.1f} ms"
    )
    assert statistics.median(latencies) < 50 and p90 < 50, latencies
