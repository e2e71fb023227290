"""What every command shares: consoles, the global --config, errors mapped to exit codes."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from rich.console import Console
from rich.text import Text

from hybridllm.errors import ConfigError, HybridLLMError, UsageError
from hybridllm.redact import redact

if TYPE_CHECKING:
    from hybridllm.router import Router

__all__ = [
    "EXIT_FAILED",
    "EXIT_USAGE",
    "console",
    "err_console",
    "fail",
    "load_router",
    "read_prompt",
    "state",
]

EXIT_FAILED = 1  # a request failed
EXIT_USAGE = 2  # bad usage or config

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class _State:
    config_path: Path | None = None


state = _State()


def fail(exc: BaseException) -> NoReturn:
    """Print one clear line for ``exc`` on stderr and exit with its code. Never a traceback."""
    code = EXIT_USAGE if isinstance(exc, ConfigError | UsageError) else EXIT_FAILED
    if isinstance(exc, HybridLLMError):
        message = exc.message
    else:
        message = f"unexpected {type(exc).__name__}: {exc}"
    err_console.print(Text.assemble(("error: ", "bold red"), redact(message)))
    sys.exit(code)


def load_router() -> Router:
    from hybridllm.router import Router

    try:
        return Router.from_config(state.config_path)
    except HybridLLMError as exc:
        fail(exc)


def read_prompt(prompt: str | None) -> str:
    if prompt is not None:
        return prompt
    if sys.stdin is None or sys.stdin.isatty():
        fail(UsageError("give a PROMPT argument or pipe the prompt on stdin"))
    text = sys.stdin.read()
    if not text.strip():
        fail(UsageError("the prompt on stdin is empty"))
    return text
