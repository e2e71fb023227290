"""The processes under test: nginx (the upstream), B (pass-through), C (hybridllm), D (LiteLLM).

Every process is started by the harness, pinned with taskset when asked, and stopped by its own
pid (never by name). Upstream bases are URL prefixes on nginx:

    http://127.0.0.1:{json}            canned chat.completion JSON, no delay
    http://127.0.0.1:{json}/sse        canned SSE stream
    http://127.0.0.1:{slow}            the JSON after a fixed 50 ms (echo module, or aiohttp)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENV_PY = REPO / ".venv" / "bin" / "python"
LITELLM_VENV = REPO / "bench" / ".venv-litellm"
LITELLM_VERSION = "1.98.1"  # pinned; never 1.82.7 / 1.82.8
ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
UPSTREAM_PATH = "/budget/v1/chat/completions"  # B forwards the path it is given to the upstream
GATEWAY_PATH = "/v1/chat/completions"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cmd: list[str], cpus: str | None) -> list[str]:
    if cpus and shutil.which("taskset"):
        return ["taskset", "-c", cpus, *cmd]
    return cmd


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is up
        except Exception as exc:
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout:.0f}s: {last}")


# -- /proc readings -----------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry.name))
    return out


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo.extend(_children(p))
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process tree under ``pid`` (all threads)."""
    total = 0.0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of the process tree's Python/server processes (taskset wrappers exec)."""
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# -- processes ----------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    port: int
    logs: Path
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is None:
            # the server's process group: uvicorn or litellm may have forked workers
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)


def spawn(
    name: str,
    cmd: list[str],
    port: int,
    workdir: Path,
    env: dict[str, str] | None = None,
) -> Proc:
    log = workdir / f"{name}.log"
    fh = log.open("ab")
    full = {**os.environ, **(env or {})}
    full.pop("DATABASE_URL", None)  # no database for any target
    popen = subprocess.Popen(
        cmd,
        stdout=fh,
        stderr=subprocess.STDOUT,
        env=full,
        start_new_session=True,
        cwd=workdir,
    )
    return Proc(name, popen, port, log)


def nginx_conf(
    prefix: Path, json_port: int, slow_port: int | None, json_body: bytes, echo: bool
) -> str:
    """Canned answers are static files under ``{prefix}/www``; a POST is answered through
    ``error_page 405 =200`` (nginx's static handler refuses POST, the error page serves the file
    as a GET). The 50 ms server sleeps with the echo module, then echoes the JSON."""
    slow = ""
    if slow_port is not None and echo:
        text = json_body.decode()
        assert "'" not in text and "$" not in text
        slow = f"""
    server {{
        listen 127.0.0.1:{slow_port} backlog=4096;
        location / {{
            default_type application/json;
            echo_read_request_body;
            echo_sleep 0.05;
            echo -n '{text}';
        }}
    }}"""
    load = f"load_module {ECHO_MODULE};\n" if echo else ""
    user = "user root;\n" if os.geteuid() == 0 else ""  # the temp prefix is private (0700)
    return f"""{load}{user}daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_max_body_size 16m;
    client_body_buffer_size 512k;
    etag off;
    server {{
        listen 127.0.0.1:{json_port} backlog=4096;
        root {prefix}/www;
        location /sse/ {{
            error_page 405 =200 /chat.sse;
            return 405;
        }}
        location / {{
            error_page 405 =200 /chat.json;
            return 405;
        }}
        location = /chat.json {{
            types {{ }}
            default_type application/json;
        }}
        location = /chat.sse {{
            types {{ }}
            default_type text/event-stream;
        }}
    }}{slow}
}}
"""


def start_upstream(workdir: Path, cpus: str | None) -> tuple[list[Proc], str, str, str]:
    """nginx (and, without the echo module, an aiohttp delay server). Returns the processes and
    the JSON, SSE and 50 ms-delay base URLs."""
    from bodies import response_json, response_sse

    prefix = Path(tempfile.mkdtemp(prefix="nginx-", dir=workdir))
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / sub).mkdir()
    json_port, slow_port = free_port(), free_port()
    echo = ECHO_MODULE.exists()
    conf = prefix / "nginx.conf"
    (prefix / "www").mkdir()
    (prefix / "www" / "chat.json").write_bytes(response_json())
    (prefix / "www" / "chat.sse").write_bytes(response_sse())
    conf.write_text(nginx_conf(prefix, json_port, slow_port, response_json(), echo))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    cmd = pinned([nginx, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf)], cpus)
    procs = [spawn("nginx", cmd, json_port, workdir)]
    if not echo:
        cmd = pinned(
            [
                sys.executable,
                str(HERE / "delay_upstream.py"),
                "--port",
                str(slow_port),
                "--delay",
                "0.05",
            ],
            cpus,
        )
        procs.append(spawn("delay-upstream", cmd, slow_port, workdir))
    base = f"http://127.0.0.1:{json_port}"
    wait_http(base + "/", 10)
    wait_http(f"http://127.0.0.1:{slow_port}/", 10)
    return procs, base, base + "/sse", f"http://127.0.0.1:{slow_port}"


HYBRIDLLM_CONFIG = """\
# C: a realistic hybridllm config. Six rules, the PII scan, the SQLite ledger, metrics (always on).
deployments:
  local-small:
    provider: ollama
    model: llama3.2:3b
    base_url: {up}/local/v1
    tier: 1
  budget:
    provider: openai
    model: gpt-4o-mini
    base_url: {up}/budget/v1
    api_key: sk-bench-not-a-key
    tier: 2
  premium:
    provider: openai
    model: gpt-4o
    base_url: {up}/premium/v1
    api_key: sk-bench-not-a-key
    tier: 3
    price: {{input: 2.50, output: 10.00}}
baseline: premium
routes:
  - name: privacy_sensitive
    when: {{contains_pii: true}}
    use: [local-small]
  - name: code_generation
    when: {{task_type: code}}
    use: [premium, budget]
  - name: batch_processing
    when: {{batch_size: ">100"}}
    use: [budget, local-small]
  - name: long_context
    when: {{tokens: ">8000"}}
    use: [premium]
{difficulty_rule}  - name: simple
    when: {{any: [{{complexity: low}}, {{keywords: [summarize, translate, format, convert, rewrite]}}]}}
    use: [local-small, budget]
    escalate: {{min_chars: 30, phrases: ["i don't know", "as an ai"]}}
  - name: default
    use: [budget, local-small, premium]
ledger: sqlite:///{db}
"""

# C-difficulty: the same config plus a rule on the learned difficulty score (issue 10: what scoring
# costs a request). Every request is scored (the rule comes before the default), none matches.
DIFFICULTY_RULE = """\
  - name: hard
    when: {difficulty: ">0.99"}
    use: [premium]
"""

LITELLM_CONFIG = """\
model_list:
  - model_name: auto
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {up}/budget/v1
      api_key: sk-bench-not-a-key
litellm_settings:
  set_verbose: false
  json_logs: true
  request_timeout: 600
  telemetry: false
general_settings:
  disable_spend_logs: true
  disable_error_logs: true
  proxy_batch_write_at: 60
"""


def _start_script(
    name: str,
    script: str,
    args: Sequence[str],
    workdir: Path,
    cpus: str | None,
    wrap: Sequence[str] = (),
) -> Proc:
    """A benchmark server of this folder on a free port, up and answering."""
    port = free_port()
    argv = [*wrap, str(VENV_PY), str(HERE / script), "--port", str(port), *args]
    proc = spawn(name, pinned(argv, cpus), port, workdir)
    wait_http(f"http://127.0.0.1:{port}/", 30)
    return proc


def start_passthrough(
    workdir: Path,
    upstream: str,
    cpus: str | None,
    wrap: Sequence[str] = (),
    routing: str = "direct",
) -> Proc:
    """B (``routing="direct"``) or B-starlette (``"starlette"``), see passthrough.py."""
    args = ["--upstream", upstream, "--routing", routing]
    return _start_script(f"B-passthrough-{routing}", "passthrough.py", args, workdir, cpus, wrap)


FLOOR = ("F", "F-aiohttp", "F-uvicorn", "F-uvicorn-aiohttp")


def start_floor(workdir: Path, upstream: str, cpus: str | None, name: str = "F") -> Proc:
    """One of ``FLOOR``: the reference pass-through of floor.py, its server (bare asyncio
    protocols, or uvicorn with a bare ASGI app) and client (its own, or aiohttp) by name."""
    if name not in FLOOR:
        raise ValueError(name)
    server = "uvicorn" if "uvicorn" in name else "raw"
    client = "aiohttp" if name.endswith("aiohttp") else "raw"
    args = ["--upstream", upstream, "--client", client, "--server", server]
    return _start_script(name, "floor.py", args, workdir, cpus)


def start_hybridllm(
    workdir: Path,
    upstream: str,
    cpus: str | None,
    label: str = "C",
    src: Path | None = None,
    env: dict[str, str] | None = None,
    wrap: Sequence[str] = (),
) -> Proc:
    """``wrap``: a command the server runs under (e.g. valgrind), inside the CPU pinning."""
    port = free_port()
    db = workdir / f"ledger-{label}-{port}.db"
    cfg = workdir / f"hybridllm-{label}-{port}.yaml"
    rule = DIFFICULTY_RULE if label == "C-difficulty" else ""
    cfg.write_text(HYBRIDLLM_CONFIG.format(up=upstream, db=db, difficulty_rule=rule))
    cmd = pinned(
        [
            *wrap,
            str(VENV_PY),
            "-m",
            "hybridllm",
            "--config",
            str(cfg),
            "serve",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cpus,
    )
    extra_env = dict(env or {})
    if src is not None:
        extra_env["PYTHONPATH"] = str(src)
    proc = spawn(label, cmd, port, workdir, extra_env)
    wait_http(f"http://127.0.0.1:{port}/healthz", 60)
    proc.extra["db"] = str(db)
    return proc


def start_b_or_c(
    target: str,
    workdir: Path,
    upstream: str,
    cpus: str | None,
    *,
    env: dict[str, str] | None = None,
    wrap: Sequence[str] = (),
) -> tuple[Proc, str]:
    """Start B (the bare pass-through) or C (hybridllm); the process and the URL to load."""
    if target == "B":
        proc = start_passthrough(workdir, upstream, cpus, wrap)
        return proc, f"http://127.0.0.1:{proc.port}{UPSTREAM_PATH}"
    proc = start_hybridllm(workdir, upstream, cpus, env=env, wrap=wrap)
    return proc, f"http://127.0.0.1:{proc.port}{GATEWAY_PATH}"


def litellm_status() -> str | None:
    """None when the LiteLLM venv is ready, else why not (it is created on first use)."""
    exe = LITELLM_VENV / "bin" / "litellm"
    if exe.exists():
        return None
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(LITELLM_VENV)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        subprocess.run(
            [
                str(LITELLM_VENV / "bin" / "pip"),
                "install",
                "-q",
                f"litellm[proxy]=={LITELLM_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=1200,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return f"could not install litellm[proxy]=={LITELLM_VERSION}: {exc} {detail[-300:]!r}"
    return None if exe.exists() else "litellm executable missing after install"


def start_litellm(workdir: Path, upstream: str, cpus: str | None) -> Proc:
    port = free_port()
    cfg = workdir / f"litellm-{port}.yaml"
    cfg.write_text(LITELLM_CONFIG.format(up=upstream))
    env = {
        "LITELLM_LOG": "ERROR",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MODE": "PRODUCTION",
        "DISABLE_SCHEMA_UPDATE": "True",
    }
    cmd = pinned(
        [
            str(LITELLM_VENV / "bin" / "litellm"),
            "--config",
            str(cfg),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        cpus,
    )
    proc = spawn("D-litellm", cmd, port, workdir, env)
    try:
        wait_http(f"http://127.0.0.1:{port}/health/liveliness", 180)
    except RuntimeError:
        proc.stop()
        tail = proc.logs.read_text(errors="replace")[-400:]
        raise RuntimeError(f"LiteLLM did not start: {tail}") from None
    return proc
