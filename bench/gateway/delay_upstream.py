"""Fallback for the 50 ms-delay upstream when nginx's echo module is not installed: an aiohttp
server that sleeps, then sends the same canned chat.completion JSON as nginx.

    python bench/gateway/delay_upstream.py --port 8411 --delay 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bodies import response_json


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--delay", type=float, default=0.05)
    a = p.parse_args()
    body = response_json()

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(a.delay)
        return web.Response(body=body, content_type="application/json")

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handler)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    web.run_app(app, host="127.0.0.1", port=a.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
