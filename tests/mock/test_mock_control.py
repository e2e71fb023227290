"""Records, the control API, model lists, and the ``run()`` entry point of the mock upstream."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from hybridllm.errors import UsageError
from hybridllm.mock import FaultRule, MockUpstream, RecordedRequest, load_faults_file, run

from .helpers import Api, user

BODY = {"messages": user("hi")}


async def test_records_hash_the_key_and_never_store_it(api: Api) -> None:
    await api.openai(BODY, headers={"Authorization": "Bearer sk-secret-123"})
    await api.anthropic({**BODY, "stream": True}, prefix="claude")
    first, second = api.mock.records
    assert isinstance(first, RecordedRequest)
    assert first.key_sha256 == hashlib.sha256(b"sk-secret-123").hexdigest()
    assert "sk-secret-123" not in repr(first.to_dict())
    assert (first.prefix, first.wire, first.model, first.stream, first.status) == (
        "p",
        "openai",
        "gpt-4o-mini",
        False,
        200,
    )
    assert first.path == "/p/v1/chat/completions"
    assert first.body["messages"] == BODY["messages"]
    assert first.key_in_url is False and first.ts > 0
    assert (second.prefix, second.wire, second.stream) == ("claude", "anthropic", True)
    assert second.key_sha256 == hashlib.sha256(b"sk-ant-test").hexdigest()


async def test_records_keep_the_status_of_rejected_requests(api: Api) -> None:
    await api.openai({})
    await api.post("/p/v1/chat/completions", {"model": "m", "messages": user("a")})
    assert [r.status for r in api.mock.records] == [400, 200]
    assert api.mock.records[1].key_sha256 is None


async def test_control_api_lists_records_filtered_by_prefix(api: Api) -> None:
    await api.openai(BODY, prefix="a")
    await api.openai(BODY, prefix="b")
    everything = (await api.get("/_mock/requests")).json
    assert [r["prefix"] for r in everything] == ["a", "b"]
    only_b = (await api.get("/_mock/requests?prefix=b")).json
    assert len(only_b) == 1
    assert only_b[0]["wire"] == "openai"
    assert only_b[0]["status"] == 200
    assert set(only_b[0]) >= {"key_sha256", "key_in_url", "ts", "body", "model", "stream", "path"}


async def test_control_api_sets_faults_per_prefix_and_reset_clears_everything(api: Api) -> None:
    set_ans = await api.post("/_mock/faults", {"a": [{"status": 503}], "/b/": []})
    assert set_ans.status == 200
    assert (await api.openai(BODY, prefix="a")).status == 503
    assert (await api.openai(BODY, prefix="b")).status == 200
    listed = (await api.get("/_mock/faults")).json
    assert listed["a"][0]["status"] == 503
    assert (await api.post("/_mock/reset", {})).status == 200
    assert api.mock.records == []
    assert (await api.openai(BODY, prefix="a")).status == 200


async def test_control_api_rejects_malformed_rules(api: Api) -> None:
    ans = await api.post("/_mock/faults", {"a": [{"bogus": 1}]})
    assert ans.status == 400
    assert "bogus" in ans.json["error"]
    assert (await api.post("/_mock/faults", ["not", "a", "mapping"])).status == 400


async def test_reset_restarts_rule_counters(api: Api) -> None:
    api.mock.set_faults("p", [{"status": 500, "count": 1}])
    assert (await api.openai(BODY)).status == 500
    assert (await api.openai(BODY)).status == 200
    api.mock.reset()
    api.mock.set_faults("p", [FaultRule(status=500, count=1)])
    assert (await api.openai(BODY)).status == 500


async def test_model_lists_for_ollama_and_openai(api: Api) -> None:
    tags = (await api.get("/local/api/tags")).json
    assert "llama3.2:3b" in [m["name"] for m in tags["models"]]
    models = (await api.get("/local/v1/models")).json
    assert models["object"] == "list"
    assert "llama3.2:3b" in [m["id"] for m in models["data"]]


async def test_unknown_path_is_404(api: Api) -> None:
    ans = await api.post("/p/v2/whatever", {})
    assert ans.status == 404
    assert ans.json["error"]["type"] == "invalid_request_error"


async def test_start_returns_the_loopback_url_with_the_chosen_port() -> None:
    async with MockUpstream() as mock:
        assert mock.port > 0
        assert mock.url == f"http://127.0.0.1:{mock.port}"


def test_load_faults_file_reads_yaml_and_json(tmp_path: Path) -> None:
    yml = tmp_path / "faults.yaml"
    yml.write_text("primary:\n  - {status: 429, count: 2, retry_after: 1}\n'':\n  - hang: true\n")
    assert load_faults_file(yml) == {
        "primary": [FaultRule(status=429, count=2, retry_after=1)],
        "": [FaultRule(hang=True)],
    }
    js = tmp_path / "faults.json"
    js.write_bytes(orjson.dumps({"/gem/": [{"no_usage": True}]}))
    assert load_faults_file(js) == {"gem": [FaultRule(no_usage=True)]}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("primary: [{status: 500, colour: red}]", "colour"),
        ("primary: {status: 500}", "list of rules"),
        ("- just\n- a list\n", "mapping"),
        ("primary: [{status: 500\n", "not valid"),
        ("primary: [{rate: 1.5}]", "rate"),
    ],
)
def test_run_rejects_a_bad_faults_file_naming_file_and_problem(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "bad-faults.yaml"
    path.write_text(content)
    with pytest.raises(UsageError, match=problem) as info:
        run(port=0, faults_file=path)
    assert "bad-faults.yaml" in str(info.value)


def test_run_rejects_a_missing_faults_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"missing\.yaml"):
        run(port=0, faults_file=tmp_path / "missing.yaml")


def test_run_serves_with_the_faults_file_until_ctrl_c(tmp_path: Path) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text("primary:\n  - status: 503\n")
    # Ctrl-C as a terminal delivers it. A shell that starts a job in the background (`cmd &`,
    # as CI runners may) makes it ignore SIGINT, and a Python started that way keeps ignoring
    # it: asyncio then installs no handler and the mock would rightly never stop.
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        f"from pathlib import Path; from hybridllm.mock import run; run(0, Path({str(faults)!r}))"
    )
    # -X faulthandler: if it does not stop, SIGABRT makes it print where every thread is.
    proc = subprocess.Popen(
        [sys.executable, "-u", "-X", "faulthandler", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert url, first
        body = orjson.dumps({"model": "m", "messages": user("hi")})
        with urllib.request.urlopen(url[0] + "/other/v1/chat/completions", body, timeout=5) as ok:
            assert ok.status == 200
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(url[0] + "/primary/v1/chat/completions", body, timeout=5)
        failed.value.close()
        assert failed.value.code == 503
        proc.send_signal(signal.SIGINT)
        try:
            status = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            _, err = proc.communicate(timeout=10)
            pytest.fail(
                f"the mock did not stop within 10 s of Ctrl-C; where it was:\n{err[-6000:]}"
            )
        assert status == 0, proc.communicate(timeout=10)[1][-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
