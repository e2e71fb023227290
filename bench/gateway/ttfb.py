"""Streaming time to first byte: POST a ``stream: true`` body N times at a small concurrency and
time the first body bytes of each SSE answer. Prints one JSON line.

    python bench/gateway/ttfb.py URL BODYFILE --n 2000 --concurrency 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def run(url: str, body: bytes, n: int, concurrency: int, warmup: int) -> dict[str, object]:
    ttfb: list[float] = []
    total: list[float] = []
    errors = 0
    left = n + warmup
    headers = {"content-type": "application/json", "accept": "text/event-stream"}

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal left, errors
        while left > 0:
            left -= 1
            measured = left < n
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    first = await resp.content.readany()
                    t1 = time.perf_counter()
                    rest = await resp.read()
                    t2 = time.perf_counter()
                    if resp.status != 200 or b"[DONE]" not in first + rest:
                        errors += 1
                        continue
            except aiohttp.ClientError:
                errors += 1
                continue
            if measured:
                ttfb.append((t1 - t0) * 1e6)
                total.append((t2 - t0) * 1e6)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    if not ttfb:
        return {"n": 0, "errors": errors}
    return {
        "n": len(ttfb),
        "errors": errors,
        "ttfb_p50_us": pct(ttfb, 50),
        "ttfb_p99_us": pct(ttfb, 99),
        "total_p50_us": pct(total, 50),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("body")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--warmup", type=int, default=100)
    a = p.parse_args()
    with open(a.body, "rb") as fh:
        body = fh.read()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(run(a.url, body, a.n, a.concurrency, a.warmup))))


if __name__ == "__main__":
    main()
