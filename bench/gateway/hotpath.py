"""Profile C (hybridllm serve) under wrk load with py-spy, all threads, and print where the time goes.

    .venv/bin/python bench/gateway/hotpath.py [--seconds 20] [--body 2k|100k] [--conns 32]

Starts the nginx upstream and C exactly as ``run.py`` does (C pinned to CPU 0, load on CPU 1),
drives it with wrk while ``py-spy record -f raw`` samples every thread, then prints the share of
samples per thread, the top functions by self time, and the inclusive share of chosen frames.
The raw profile stays in the work directory it names (feed it to speedscope or flamegraph.pl).
Needs ``py-spy`` (``pip install py-spy``) and the same Debian packages as ``run.py``.

    --no-spy            only CPU-us per request (quick A/B of a change; run it a few times)
    --no-spy --rss      RSS every tenth of the run (does memory level off?)
    --gil               sample only the thread holding the GIL (Python work, no waiting)
    --env NAME=VALUE    an environment variable for C (e.g. HYBRIDLLM_LEDGER_DURABLE=0)
    --target B          the bare pass-through instead of C (the same figures, for the ratio)
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import targets as T
from bodies import request_body

HERE = Path(__file__).resolve().parent
LUA = HERE / "post.lua"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--body", choices=["2k", "100k"], default="2k")
    p.add_argument("--conns", type=int, default=32)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for C")
    p.add_argument("--no-spy", action="store_true", help="only measure rps and CPU-us/req")
    p.add_argument("--rss", action="store_true", help="with --no-spy: RSS at 1/5 and at the end")
    p.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL")
    p.add_argument("--target", choices=["B", "C"], default="C", help="B: the bare pass-through")
    a = p.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        sys.exit("py-spy is not installed: pip install py-spy")
    work = Path(tempfile.mkdtemp(prefix="hybridllm-profile-"))
    body = work / f"body-{a.body}.json"
    body.write_bytes(request_body(2048 if a.body == "2k" else 100 * 1024, stream=False))
    two = (os.cpu_count() or 1) >= 2
    server_cpus, load_cpus = ("0", "1") if two else (None, None)
    procs: list[T.Proc] = []
    try:
        ups, json_up, _sse, _slow = T.start_upstream(work, load_cpus)
        procs.extend(ups)
        env = dict(kv.split("=", 1) for kv in a.env)
        c, target_url = T.start_b_or_c(a.target, work, json_up, server_cpus, env=env)
        procs.append(c)
        url = f"http://127.0.0.1:{c.port}"
        wrk_env = {
            **os.environ,
            "BENCH_BODY": str(body),
            "BENCH_PATH": target_url.removeprefix(url),
            "BENCH_RATE": "0",
            "BENCH_STOP_AFTER": "0",
            "BENCH_THREADS": "1",
        }

        def wrk(seconds: int) -> subprocess.Popen[str]:
            cmd = T.pinned(
                ["wrk", "-t1", f"-c{a.conns}", f"-d{seconds}s", "-s", str(LUA), url], load_cpus
            )
            return subprocess.Popen(cmd, env=wrk_env, stdout=subprocess.PIPE, text=True)

        wrk(3).communicate()  # warm-up
        server_pid = max(T.tree(c.pid), key=T.cpu_seconds)  # the python process, not taskset
        raw = work / "profile.raw"
        load = wrk(a.seconds + 2)
        time.sleep(1)
        cpu0 = T.cpu_seconds(c.pid)
        if a.no_spy:
            if a.rss:
                rss0 = 0.0
                for i in range(10):
                    time.sleep(a.seconds / 10)
                    rss = T.rss_mb(c.pid)
                    rss0 = rss0 or rss
                    print(f"  t={(i + 1) * a.seconds / 10:.0f}s RSS {rss:.1f} MB", flush=True)
                rss1 = T.rss_mb(c.pid)
                print(f"RSS {rss0:.1f} -> {rss1:.1f} MB ({100 * (rss1 - rss0) / rss0:+.2f}%)")
            else:
                time.sleep(a.seconds)
        else:
            subprocess.run(
                [
                    spy,
                    "record",
                    "-r",
                    str(a.rate),
                    "-d",
                    str(a.seconds),
                    "-f",
                    "raw",
                    "--threads",
                    "--nonblocking",
                    *(["--gil"] if a.gil else []),
                    "-o",
                    str(raw),
                    "-p",
                    str(server_pid),
                ],
                check=True,
                capture_output=True,
            )
        cpu1 = T.cpu_seconds(c.pid)
        out, _ = load.communicate()
        line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("{")), "{}")
        import json

        r = json.loads(line)
        rps = r.get("requests", 0) / max(r.get("duration_us", 1) / 1e6, 1e-9)
        cpu_us = 1e6 * (cpu1 - cpu0) / max(1.0, rps * a.seconds)
        print(f"wrk: {rps:.0f} rps; server CPU {cpu1 - cpu0:.1f} s, ~{cpu_us:.0f} CPU-us/req")
        if not a.no_spy:
            print(f"raw profile: {raw}")
            summarize(raw, a.top)
    finally:
        for proc in reversed(procs):
            proc.stop()


def summarize(raw: Path, top: int) -> None:
    threads: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack:
            continue
        n = int(count_s)
        frames = stack.split(";")
        total += n
        threads[frames[0]] += n
        self_time[frames[-1]] += n
        for f in set(frames[1:]):
            inclusive[f] += n
    print(f"\n{total} samples")
    print("\nby thread:")
    for name, n in threads.most_common():
        print(f"  {100 * n / total:5.1f}%  {name}")
    print(f"\ntop {top} by self time:")
    for name, n in self_time.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {name}")
    print(f"\ntop {top} inclusive (ours and the stack's):")
    shown = 0
    for name, n in inclusive.most_common():
        if "hybridllm" in name or "aiohttp" in name or "starlette" in name or "uvicorn" in name:
            print(f"  {100 * n / total:5.1f}%  {name}")
            shown += 1
            if shown >= top:
                break


if __name__ == "__main__":
    main()
