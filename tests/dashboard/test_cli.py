"""``hybridllm dashboard``: a thin command that serves the dashboard on 127.0.0.1."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hybridllm.cli.app", "dashboard", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )


def test_a_missing_ledger_is_a_usage_error(tmp_path: Path) -> None:
    proc = _run("--ledger", f"sqlite:///{tmp_path / 'none.db'}", "--no-open", cwd=tmp_path)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "no ledger at" in err


def test_it_prints_a_signed_in_url_and_serves_the_dashboard(
    tmp_path: Path, ledger_url: str
) -> None:
    port = _free_port()
    proc = _run("--ledger", ledger_url, "--port", str(port), "--no-open", cwd=tmp_path)
    try:
        assert proc.stdout is not None
        url = ""
        for _ in range(5):
            line = proc.stdout.readline()
            if m := re.search(r"(http://127\.0\.0\.1:\d+/dashboard/login\?key=\S+)", line):
                url = m.group(1)
                break
        assert url.startswith(f"http://127.0.0.1:{port}/"), url
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        for _ in range(100):  # uvicorn binds just after the line is printed
            try:
                with opener.open(url, timeout=10) as page:
                    assert page.status == 200 and b"chart-spend" in page.read()
                break
            except OSError:
                time.sleep(0.1)
        with opener.open(f"http://127.0.0.1:{port}/dashboard/api/summary?since=all") as api:
            assert b'"requests":18' in api.read()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
