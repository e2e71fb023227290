"""Added latency of B or C variants at one fixed rate, repetition by repetition.

    .venv/bin/python bench/gateway/latency.py --rate 1566 --reps 6
    .venv/bin/python bench/gateway/latency.py --variants "B,C,C-nd:HYBRIDLLM_LEDGER_DURABLE=0"
    .venv/bin/python bench/gateway/latency.py --variants "C,C-old:PYTHONPATH=/tmp/old-src"

The 50 ms upstream, wrk at a fixed rate and the CPU pinning of ``run.py``'s latency phase; each
variant is one server kept up for all its repetitions, so its ledger grows as in a long run and a
stall that comes every N rows (a WAL checkpoint: every 20,000) shows up in the repetition that
crosses it. A variant is ``B``, or a label for C with optional ``NAME=VALUE`` settings after a
colon, separated by semicolons (``PYTHONPATH=<a src/ tree>`` runs another version of the code).
Prints p50 / p90 / p99 / max per repetition; ``run.py``'s A (nginx direct) is ~50.2 / 51.1 ms.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as R
import targets as T


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rate", type=int, default=1566, help="requests per second")
    p.add_argument("--seconds", type=int, default=12, help="per repetition")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--variants", default="C", help="comma list: B, C[:NAME=VALUE;...]")
    p.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    a = p.parse_args()
    bench = R.Bench(
        argparse.Namespace(
            quick=False, no_pin=a.no_pin, label="latency", before_src=None, rate=None, targets=""
        )
    )
    upstream = T.start_upstream(bench.work, bench.load_cpus)
    bench.procs.extend(upstream[0])
    slow_up = upstream[3]
    conns = max(32, int(a.rate * 0.05 * 3))  # as run.py: three times the requests in flight
    print(f"{'variant':36} {'rep':>3} {'rps':>6} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}")
    try:
        for spec in a.variants.split(","):
            label, _, settings = spec.strip().partition(":")
            env = dict(s.split("=", 1) for s in settings.split(";") if s)
            if label == "B":
                proc, url = bench.start("B", slow_up)
            else:
                proc = T.start_hybridllm(
                    bench.work, slow_up, bench.server_cpus, label=label, env=env
                )
                bench.procs.append(proc)
                url = f"http://127.0.0.1:{proc.port}{T.GATEWAY_PATH}"
            bench.wrk(url, "2k", 32, 2)  # warm-up, as run.py
            for rep in range(a.reps):
                r = bench.wrk(url, "2k", conns, a.seconds, rate=a.rate)
                ms = [r[k] / 1000 for k in ("lat_p50_us", "lat_p90_us", "lat_p99_us", "lat_max_us")]
                cells = " ".join(f"{v:7.2f}" for v in ms)
                print(
                    f"{spec:36} {rep:>3} {r['rps']:6.0f} {cells}  errors {r['errors']}", flush=True
                )
            if proc is not None:
                bench.stop(proc)
    finally:
        bench.stop_all()


if __name__ == "__main__":
    main()
