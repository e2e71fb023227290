"""The blocking entry point behind ``hybridllm mock-upstream``."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from hybridllm.mock.faults import FaultRule, load_faults_file
from hybridllm.mock.server import MockUpstream

__all__ = ["run"]


def run(port: int = 8900, faults_file: Path | None = None, host: str = "127.0.0.1") -> None:
    """Serve the mock upstream until Ctrl-C.

    A bad ``faults_file`` raises :class:`hybridllm.errors.UsageError` before anything is served.
    """
    faults: dict[str, list[FaultRule]] = load_faults_file(faults_file) if faults_file else {}
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(host, port, faults))


async def _serve(host: str, port: int, faults: dict[str, list[FaultRule]]) -> None:
    mock = MockUpstream()
    for prefix, rules in faults.items():
        mock.set_faults(prefix, list(rules))
    url = await mock.start(host, port)
    print(f"hybridllm mock upstream on {url}  (Ctrl-C to stop)")
    print(f"  openai:    {url}/<name>/v1       (POST .../chat/completions)")
    print(f"  anthropic: {url}/<name>          (POST .../v1/messages)")
    print(f"  gemini:    {url}/<name>/v1beta   (POST .../models/<model>:generateContent)")
    print(f"  control:   {url}/_mock/requests, /_mock/faults, /_mock/reset")
    if faults:
        print(f"  faults for: {', '.join(repr(p) for p in faults)}")
    try:
        await asyncio.Event().wait()
    finally:
        await mock.stop()
