"""Gateway replicas as real processes on loopback (``python -m hybridllm serve``)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from tests.services import free_port

DEPLOYMENT = """
  {name}:
    provider: openai
    model: {name}-model
    base_url: {mock}/{prefix}/v1
    api_key: sk-test-{name}-000000000000000
    tier: {tier}
    price: {{input: 0.0, output: 50.0}}
    timeout: {{total: 20}}
"""


def config_text(
    *,
    mock: str,
    ledger: str,
    state: str,
    prefix: str,
    deployments: dict[str, str],
    use: Sequence[str],
    extra: str = "",
    state_options: str = "",
) -> str:
    """A config whose deployments are ``name: mock path prefix`` (price: $50 / 1M output)."""
    deps = "".join(
        DEPLOYMENT.format(name=n, prefix=p, mock=mock, tier=i + 1)
        for i, (n, p) in enumerate(deployments.items())
    )
    return (
        f"deployments:{deps}\n"
        f"routes:\n  - name: default\n    use: [{', '.join(use)}]\n"
        f"ledger: {ledger}\nstate: {state}\n"
        f"state_options: {{key_prefix: '{prefix}', sync_interval: 0.1{state_options}}}\n"
        f"dispatch: {{backoff_base: 0.0, backoff_max: 0.0}}\n{extra}"
    )


@dataclass
class Replica:
    index: int
    port: int
    config: Path
    log: Path
    proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "hybridllm", "--config", str(self.config),
                "serve", "--port", str(self.port),
                stdout=out, stderr=out,
            )  # fmt: skip

    async def kill(self) -> None:
        """``kill -9``: no drain, no ledger flush, no release of its budget holds."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@dataclass
class Cluster:
    replicas: list[Replica]
    session: aiohttp.ClientSession = field(init=False)

    @classmethod
    async def start(cls, tmp: Path, configs: Sequence[str]) -> Cluster:
        replicas = []
        for i, text in enumerate(configs):
            path = tmp / f"replica{i}.yaml"
            path.write_text(text)
            replicas.append(Replica(i, free_port(), path, tmp / f"replica{i}.log"))
        cluster = cls(replicas)
        cluster.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60)
        )
        await asyncio.gather(*(r.start() for r in replicas))
        try:
            await asyncio.gather(*(cluster.wait_ready(r) for r in replicas))
        except BaseException:
            await cluster.close()
            raise
        return cluster

    async def wait_ready(self, replica: Replica, seconds: float = 30) -> None:
        for _ in range(int(seconds / 0.05)):
            if replica.proc is not None and replica.proc.returncode is not None:
                raise RuntimeError(f"replica {replica.index} exited: {replica.log.read_text()}")
            try:
                async with self.session.get(replica.url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError(f"replica {replica.index} did not come up: {replica.log.read_text()}")

    async def chat(
        self,
        replica: Replica,
        *,
        rid: str,
        cost_center: str | None = None,
        max_tokens: int = 1000,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        body = {
            "model": "auto",
            "messages": [{"role": "user", "content": f"question {rid}"}],
            "max_tokens": max_tokens,
        }
        headers = {"content-type": "application/json", "x-request-id": rid}
        if cost_center is not None:
            headers["x-hybridllm-cost-center"] = cost_center
        url = replica.url + "/v1/chat/completions"
        async with self.session.post(url, data=orjson.dumps(body), headers=headers) as resp:
            headers = {k.lower(): v for k, v in resp.headers.items()}
            return resp.status, orjson.loads(await resp.read()), headers

    async def readyz(self, replica: Replica) -> dict[str, Any]:
        async with self.session.get(replica.url + "/readyz") as resp:
            data: dict[str, Any] = orjson.loads(await resp.read())
            return data

    async def until(self, replica: Replica, check: Any, seconds: float = 15) -> dict[str, Any]:
        """Poll ``/readyz`` until ``check(body)`` holds (no tight timing: a generous bound)."""
        body: dict[str, Any] = {}
        for _ in range(int(seconds / 0.05)):
            body = await self.readyz(replica)
            if check(body):
                return body
            await asyncio.sleep(0.05)
        raise AssertionError(f"replica {replica.index}: /readyz never satisfied the check: {body}")

    async def close(self) -> None:
        await asyncio.gather(*(r.stop() for r in self.replicas))
        await self.session.close()
