"""``hybridllm dashboard``: the dashboard over a ledger, without serving model traffic.

The ledger is ``--ledger`` or the config's; budgets (and admin keys) come from the config when
one is found. Binds 127.0.0.1 only; the URL printed (and opened unless ``--no-open``) carries a
one-time launch token that signs the browser in.
"""

from __future__ import annotations

import os
import webbrowser
from pathlib import Path

from hybridllm.cli.common import console, fail, load_router, state
from hybridllm.config.models import Config
from hybridllm.errors import HybridLLMError

__all__ = ["run_dashboard"]


def _config_if_any(required: bool) -> Config | None:
    env = os.environ.get("HYBRIDLLM_CONFIG")
    found = state.config_path or (Path(env) if env else Path("hybridllm.yaml"))
    if not required and not found.exists():
        return None
    return load_router().config


def run_dashboard(ledger: str | None, port: int, no_open: bool) -> None:
    from hybridllm.dashboard.app import HOST, create_dashboard_app, launch_token, prepare_ledger

    config = _config_if_any(required=ledger is None)
    url = ledger if ledger is not None else config.ledger if config is not None else ""
    try:
        prepare_ledger(url)
    except HybridLLMError as exc:
        fail(exc)
    token = launch_token()
    app = create_dashboard_app(
        url,
        keys=config.server.keys if config is not None else (),
        budgets=config.budgets if config is not None else None,
        tokens=[token],
    )
    address = f"http://{HOST}:{port}/dashboard/login?key={token}"
    console.print(f"hybridllm dashboard over {url.split('@')[-1]}")
    console.print(f"open {address}  (Ctrl+C to stop)", soft_wrap=True)
    if not no_open:
        webbrowser.open(address)

    import uvicorn

    uvicorn.run(app, host=HOST, port=port, log_level="warning")
