"""Instructions per request of B or C, counted by valgrind (callgrind): repeatable on a busy machine.

    .venv/bin/python bench/gateway/instr.py [--target C] [--requests 2000] [--body 2k|100k]

CPU-us per request (``hotpath.py --no-spy``) moves by 10-30% with whatever else the two cores run;
the number of instructions executed does not (the same code, inputs and environment give the same
count within ~1%). Use this for an A/B of a change on the hot path, then confirm with the timed
benchmark on a quiet machine.

The server runs under ``valgrind --tool=callgrind`` with instrumentation off while it starts and
warms up; then exactly ``--requests`` requests are counted (all threads, so the ledger writer is
in), ``--conc`` at a time from an aiohttp client in this process, against the nginx upstream of
``run.py``. Cycles, cache misses and the kernel are not counted: a change that trades instructions
for memory traffic needs the timed benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

import targets as T
from bodies import request_body


async def drive(url: str, body: bytes, total: int, conc: int) -> int:
    """POST ``body`` ``total`` times, ``conc`` at a time; the number of 200 answers."""
    ok = 0
    left = total
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:

        async def worker() -> None:
            nonlocal ok, left
            while left > 0:
                left -= 1
                async with session.post(
                    url, data=body, headers={"content-type": "application/json"}
                ) as resp:
                    await resp.read()
                    ok += resp.status == 200

        await asyncio.gather(*(worker() for _ in range(conc)))
    return ok


def control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--target", choices=["B", "C"], default="C")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--conc", type=int, default=8)
    p.add_argument("--body", choices=["2k", "100k"], default="2k")
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for C")
    a = p.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian package valgrind)")
    work = Path(tempfile.mkdtemp(prefix="hybridllm-instr-"))
    body = request_body(2048 if a.body == "2k" else 100 * 1024, stream=False)
    procs: list[T.Proc] = []
    out = work / "callgrind.out"
    try:
        ups, json_up, _sse, _slow = T.start_upstream(work, None)
        procs.extend(ups)
        grind = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
        ]
        env = dict(kv.split("=", 1) for kv in a.env)
        proc, url = T.start_b_or_c(a.target, work, json_up, None, env=env, wrap=grind)
        procs.append(proc)
        pid = proc.pid
        warm = asyncio.run(drive(url, body, a.warmup, a.conc))
        control(pid, "-z")
        control(pid, "-i", "on")
        t0 = time.monotonic()
        ok = asyncio.run(drive(url, body, a.requests, a.conc))
        seconds = time.monotonic() - t0
        control(pid, "-d")
        control(pid, "-i", "off")
        time.sleep(1)
        dumps = sorted(work.glob("callgrind.out*"), key=os.path.getmtime)
        total = 0
        for dump in dumps:
            for line in dump.read_text(errors="replace").splitlines():
                m = re.match(r"(?:summary|totals):\s+(\d+)", line)
                if m:
                    total = max(total, int(m.group(1)))  # the dump after the counted requests
        if ok != a.requests or warm != a.warmup:
            print(
                f"warning: {a.warmup - warm} warm-up and {a.requests - ok} counted requests failed"
            )
        print(
            f"{a.target} {a.body}: {total / max(1, ok) / 1e3:,.0f} k instructions/request "
            f"({ok} requests in {seconds:.0f} s under valgrind; dumps in {work})"
        )
    finally:
        for proc in reversed(procs):
            proc.stop()


if __name__ == "__main__":
    main()
