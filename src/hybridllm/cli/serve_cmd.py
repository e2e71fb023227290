"""``hybridllm serve``: the gateway on uvicorn (uvloop + httptools), one or more workers.

The config is checked here, in the parent, so a bad file fails with exit code 2 before any
worker starts; the workers find it through ``$HYBRIDLLM_CONFIG`` (the app factory reads it).
Shutdown (SIGINT/SIGTERM) stops accepting, drains in-flight requests (up to 30 s), then closes
the runtime, which flushes the ledger.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import tempfile
from pathlib import Path

from rich.text import Text

from hybridllm.cli.common import err_console, fail, load_router, state
from hybridllm.errors import UsageError
from hybridllm.redact import RedactingFilter, install_log_redaction

__all__ = ["is_loopback", "run_serve"]

DEFAULT_HOST = "127.0.0.1"
GRACEFUL_SECONDS = 30


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _config_path() -> Path:
    if state.config_path is not None:
        return state.config_path.resolve()
    env = os.environ.get("HYBRIDLLM_CONFIG")
    return Path(env).resolve() if env else Path("hybridllm.yaml").resolve()


def run_serve(host: str | None, port: int, workers: int, access_log: bool) -> None:
    router = load_router()  # exit code 2 on a bad config, before any worker starts
    explicit = host is not None
    bind = host or os.environ.get("HYBRIDLLM_HOST") or DEFAULT_HOST
    if not router.config.server.keys and not is_loopback(bind):
        if not explicit:
            fail(
                UsageError(
                    f"refusing to serve on {bind} without virtual keys (server.keys): anyone "
                    "who can reach it could spend your provider credits. Add keys, or pass "
                    "--host explicitly to accept that."
                )
            )
        err_console.print(
            Text(
                f"WARNING: serving on {bind} with NO authentication (no server.keys in the "
                "config). Anyone who can reach this address can use your provider keys.",
                style="bold red",
            )
        )
    from hybridllm.server.app import SETTLE_GC_ENV

    os.environ["HYBRIDLLM_CONFIG"] = str(_config_path())
    os.environ[SETTLE_GC_ENV] = "1"  # each worker settles its garbage collector after start-up
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hybridllm-metrics-")
    install_log_redaction()
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "hybridllm"):
        logging.getLogger(name).addFilter(RedactingFilter())

    import uvicorn

    uvicorn.run(
        "hybridllm.server.app:create_app",
        factory=True,
        host=bind,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="on",
        access_log=access_log,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        server_header=False,
    )
