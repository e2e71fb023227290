"""schemathesis against /openapi.json: generated requests never get a 5xx (loopback only)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from .conftest import Running

EXAMPLES = int(os.environ.get("HYBRIDLLM_SCHEMATHESIS_EXAMPLES", "20"))
WARNINGS = (
    "missing_auth",
    "missing_test_data",
    "base_url_mismatch",
    "validation_mismatch",
    "missing_deserializer",
    "unused_openapi_auth",
    "unsupported_regex",
    "method_not_allowed",
    "constants_extraction",
    "unmatched_filter",
    "unresolvable_reference",
    "low_valid_rate",
    "rate_limited",
    "dictionary_mismatch",
    "timeout_units",
)


async def test_schemathesis_finds_no_server_error(gateway: Running, tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "schemathesis"
    if not exe.exists():
        pytest.skip("schemathesis is not installed in this environment")
    env = {**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"}
    proc = await asyncio.create_subprocess_exec(
        str(exe),
        "run",
        f"{gateway.url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--phases",
        "examples,fuzzing",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        "20261123",
        "--generation-deterministic",
        "--request-timeout",
        "10",
        # Every warning but missing_test_data: POST /v1/feedback rightly answers 404 for the
        # request ids schemathesis makes up (tests/server/test_feedback.py covers real ones).
        "--warnings",
        ",".join(w for w in WARNINGS if w != "missing_test_data"),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-4000:]
    assert "No issues found" in text, text[-4000:]
