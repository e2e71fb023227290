"""The curl examples of docs/gateway.md, run as printed (host swapped) against a gateway."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import orjson
import pytest

from hybridllm.server.metrics import METRIC_NAMES

from .conftest import Running

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"
BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)
# Every curl also prints its status, so the test can check it against the "(NNN)" comment.
PRELUDE = "set -euo pipefail\ncurl() { command curl -w '\\nHTTP %{http_code}\\n' \"$@\"; }\n"


def curl_blocks() -> list[tuple[int, str]]:
    out = []
    for block in BLOCK.findall(DOC.read_text()):
        if "curl " not in block:
            continue
        status = re.match(r"#.*\((\d{3})\)\n", block)
        assert status, f"a curl block without its (status) comment:\n{block}"
        out.append((int(status.group(1)), block))
    return out


async def test_doc_curl_examples_work_as_printed(gateway: Running) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    blocks = curl_blocks()
    assert len(blocks) >= 6
    for expected, block in blocks:
        script = PRELUDE + block.replace("http://127.0.0.1:8400", gateway.url)
        proc = await asyncio.create_subprocess_exec(
            "bash", "-c", script,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        text = out.decode()
        assert proc.returncode == 0, f"{block}\n{text}\n{err.decode()}"
        statuses = [int(s) for s in re.findall(r"^HTTP (\d{3})$", text, re.MULTILINE)]
        assert statuses and set(statuses) == {expected}, f"{block}\n{text}"


def test_grafana_dashboard_charts_every_metric_and_only_those_names() -> None:
    path = DOC.parents[1] / "deploy" / "grafana" / "hybridllm.json"
    dashboard = orjson.loads(path.read_bytes())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set(re.findall(r"\b(hybridllm_[a-z_]+?)(?:_bucket|_count|_sum)?\b", " ".join(exprs)))
    assert used == set(METRIC_NAMES)
