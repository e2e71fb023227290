"""``hybridllm ask`` and the library against a mock upstream running in its own process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridllm.ledger import open_store
from tests.cli.helpers import hybridllm


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mock_port() -> Iterator[int]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hybridllm", "mock-upstream", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError("mock upstream did not start")
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def _config(tmp_path: Path, port: int) -> Path:
    text = (Path(__file__).resolve().parents[2] / "examples/mock/hybridllm.yaml").read_text()
    text = text.replace("8900", str(port)).replace(
        "sqlite:///hybridllm-mock.db", f"sqlite:///{tmp_path}/l.db"
    )
    path = tmp_path / "hybridllm.yaml"
    path.write_text(text)
    return path


def test_ask_prints_the_answer_and_verbose_details(tmp_path: Path, mock_port: int) -> None:
    _config(tmp_path, mock_port)
    out = hybridllm("ask", "-v", "Summarize: the launch moved to March.", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Mock answer from llama3.2:3b")
    for word in ("tier 1", "local-small", "ms", "tokens", "cost $0.000000"):
        assert word in out.stderr


def test_ask_reads_stdin_and_pins_a_model_with_json_output(tmp_path: Path, mock_port: int) -> None:
    _config(tmp_path, mock_port)
    out = hybridllm(
        "ask",
        "--model",
        "premium",
        "--json",
        "--system",
        "Be brief.",
        cwd=tmp_path,
        stdin="What is 2+2?",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["deployment"] == "premium" and data["tier"] == 3
    assert data["cost_usd"] > 0 and data["usage"]["prompt_tokens"] > 0


def test_ask_unknown_model_is_a_usage_error(tmp_path: Path, mock_port: int) -> None:
    _config(tmp_path, mock_port)
    out = hybridllm("ask", "--model", "gpt-9", "hi", cwd=tmp_path)
    assert out.returncode == 2 and "deployments:" in out.stderr


def test_ask_with_every_deployment_down_exits_1_with_a_clear_error(tmp_path: Path) -> None:
    _config(tmp_path, _free_port())  # nothing listens there
    out = hybridllm("ask", "hello there", cwd=tmp_path)
    assert out.returncode == 1
    assert "all deployments failed" in out.stderr and "Traceback" not in out.stderr


_LIBRARY_SCRIPT = """
import sys, time
from hybridllm import Router
router = Router.from_config(sys.argv[1])
answer = router.complete("What is the capital of France?")
print(answer.request_id, flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(os.name != "posix", reason="kill -9 is POSIX")
def test_killing_the_library_process_after_an_answer_keeps_its_ledger_rows(
    tmp_path: Path, mock_port: int
) -> None:
    config = _config(tmp_path, mock_port)
    with subprocess.Popen(
        [sys.executable, "-c", _LIBRARY_SCRIPT, str(config)], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            request_id = proc.stdout.readline().strip()
            assert request_id
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    store = open_store(f"sqlite:///{tmp_path}/l.db")
    try:
        rows = [r for r in store.rows() if r.request_id == request_id]
        assert rows and rows[-1].status == "ok"
        assert store.integrity_check() == []
    finally:
        store.close()


def test_export_writes_one_json_line_per_attempt(tmp_path: Path, mock_port: int) -> None:
    _config(tmp_path, mock_port)
    for prompt in ("one", "two"):
        assert hybridllm("ask", prompt, cwd=tmp_path).returncode == 0
    out = hybridllm("export", "--since", "1h", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)
    assert hybridllm("export", "--since", "yesterdayish", cwd=tmp_path).returncode == 2
