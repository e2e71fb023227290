"""The gateway comparison, in one run on this machine; prints tables, writes bench/results/.

    .venv/bin/python bench/gateway/run.py            # the full run (~15 min)
    .venv/bin/python bench/gateway/run.py --quick    # a short run (~4 min)
    .venv/bin/python bench/gateway/run.py --targets A,B,C --label after

Targets (one worker each, pinned to CPU 0; wrk, nginx and the TTFB client pinned to CPU 1):
  A  wrk straight to the upstream (nginx canned JSON/SSE; nginx + echo_sleep for the 50 ms one)
  B  a bare pass-through on hybridllm's stack (starlette, uvicorn uvloop/httptools, aiohttp),
     a POST straight to its handler as hybridllm's model routes; B-starlette: the same handler
     through Starlette's middleware and router (B until 2026-12-06; on demand)
  C  hybridllm serve: six rules, PII scan, SQLite ledger (crash-safe spool + batches), metrics
  D  LiteLLM proxy (pinned release, own venv bench/.venv-litellm, no database)
  F  reference only (floor.py): a pass-through on bare asyncio protocols + httptools, no ASGI
     server, no framework, no aiohttp. F-aiohttp, F-uvicorn, F-uvicorn-aiohttp: the same with
     aiohttp's client and/or uvicorn as the server (a bare ASGI app). All on demand.

Figures: max sustained RPS with zero errors (2 KB and 100 KB bodies), CPU-us per request, RSS
per worker and its growth from request 20,000 to 100,000, added latency p50/p99 over A at 25/50/80%
of C's max on the 50 ms upstream, and added streaming time to first byte.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import targets as T
from bodies import request_body

RESULTS = T.REPO / "bench" / "results"
LUA = T.HERE / "post.lua"
UPSTREAM_PATH = T.UPSTREAM_PATH
# Measured at 2 KB in alternating rounds (the C / B ratio); D is measured on its own.
PAIRED = ("A", "B", "B-starlette", "C", "C-before", "C-nodurable", "C-difficulty", *T.FLOOR)


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {loadavg()[0]:.2f}] {msg}", flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick: bool = args.quick
        two = (os.cpu_count() or 1) >= 2 and not args.no_pin
        self.server_cpus = "0" if two else None
        self.load_cpus = "1" if two else None
        self.work = Path(tempfile.mkdtemp(prefix="hybridllm-bench-"))
        self.bodies: dict[str, Path] = {}
        for name, size, stream in (
            ("2k", 2048, False),
            ("100k", 100 * 1024, False),
            ("2k-stream", 2048, True),
        ):
            path = self.work / f"body-{name}.json"
            path.write_bytes(request_body(size, stream=stream))
            self.bodies[name] = path
        self.procs: list[T.Proc] = []
        self.result: dict[str, Any] = {
            "label": args.label,
            "quick": self.quick,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "kernel": platform.release(),
                "pinning": two,
            },
            "loadavg": {"start": loadavg()},
            "targets": {},
        }

    # -- plumbing -----------------------------------------------------------------------------

    def stop(self, proc: T.Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)

    def wrk(
        self,
        url: str,
        body: str,
        conns: int,
        seconds: float,
        *,
        rate: float = 0,
        stop_after: int = 0,
        accept: str | None = None,
    ) -> dict[str, Any]:
        env = {
            **os.environ,
            "BENCH_BODY": str(self.bodies[body]),
            "BENCH_PATH": _path(url),
            "BENCH_RATE": str(rate),
            "BENCH_STOP_AFTER": str(stop_after),
            "BENCH_THREADS": "1",
        }
        if accept:
            env["BENCH_ACCEPT"] = accept
        base = url[: len(url) - len(_path(url))]
        cmd = T.pinned(
            [
                "wrk",
                "-t1",
                f"-c{conns}",
                f"-d{max(1, int(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(LUA),
                base,
            ],
            self.load_cpus,
        )
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 120)
        line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("{")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
        r = json.loads(line)
        errors = r["non2xx"] + r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
        r["errors"] = errors
        r["rps"] = r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
        return r

    def send(self, url: str, target: int, done: int) -> int:
        """Send 2 KB requests until ``target`` have been answered in total (wrk runs for a
        duration, so this loops on short runs sized from the rate seen so far)."""
        rate = 500.0
        while done < target:
            seconds = min(30.0, max(1.0, (target - done) / rate))
            r = self.wrk(url, "2k", 32, seconds)
            done += r["requests"]
            rate = max(50.0, r["rps"])
        return done

    def measured(
        self, pid: int | None, url: str, body: str, conns: int, seconds: float, **kw: Any
    ) -> dict[str, Any]:
        cpu0 = T.cpu_seconds(pid) if pid else 0.0
        r = self.wrk(url, body, conns, seconds, **kw)
        if pid:
            used = T.cpu_seconds(pid) - cpu0
            r["cpu_us_per_req"] = used * 1e6 / r["requests"] if r["requests"] else None
        return r

    # -- targets ------------------------------------------------------------------------------

    def start(self, name: str, upstream: str) -> tuple[T.Proc | None, str]:
        """Start target ``name`` against ``upstream``; (process, URL the load goes to)."""
        if name == "A":
            return None, upstream + UPSTREAM_PATH
        if name in ("B", "B-starlette"):
            routing = "direct" if name == "B" else "starlette"
            p = T.start_passthrough(self.work, upstream, self.server_cpus, routing=routing)
            url = f"http://127.0.0.1:{p.port}{UPSTREAM_PATH}"
        elif name in ("C", "C-before", "C-nodurable", "C-difficulty"):
            src = Path(self.args.before_src) if name == "C-before" else None
            env = {"HYBRIDLLM_LEDGER_DURABLE": "0"} if name == "C-nodurable" else None
            p = T.start_hybridllm(
                self.work, upstream, self.server_cpus, label=name, src=src, env=env
            )
            url = f"http://127.0.0.1:{p.port}{T.GATEWAY_PATH}"
        elif name in T.FLOOR:
            p = T.start_floor(self.work, upstream, self.server_cpus, name)
            url = f"http://127.0.0.1:{p.port}{UPSTREAM_PATH}"
        elif name == "D":
            p = T.start_litellm(self.work, upstream, self.server_cpus)
            url = f"http://127.0.0.1:{p.port}{T.GATEWAY_PATH}"
        else:
            raise ValueError(name)
        self.procs.append(p)
        return p, url

    def target(self, name: str) -> dict[str, Any]:
        return self.result["targets"].setdefault(name, {})

    # -- phases -------------------------------------------------------------------------------

    def throughput(self, names: list[str], json_up: str) -> None:
        """RSS growth and the 100 KB runs target by target; then the 2 KB runs of A, B and the
        C variants in alternating rounds (B, C, ..., then ..., C, B), every server staying up
        between its rounds, so that the C / B ratio does not depend on which of them ran while
        the shared machine was busier. D runs alone: its margin is an order of magnitude."""
        q = self.quick
        levels = {"2k": [32] if q else [16, 32, 64], "100k": [16] if q else [8, 32]}
        seconds = 4 if q else 8
        rounds = 2
        live: dict[str, tuple[T.Proc | None, str, int]] = {}
        for name in list(names):
            log(f"throughput: {name}")
            try:
                proc, url = self.start(name, json_up)
            except RuntimeError as exc:
                self.result["targets"][name] = {"unavailable": str(exc)[:500]}
                names.remove(name)
                log(f"{name} skipped: {exc}")
                continue
            pid = proc.pid if proc else self.upstream_pid
            t = self.target(name)
            self.wrk(url, "2k", 16, 2)  # warm-up
            if proc is not None:
                t["rss_mb_start"] = round(T.rss_mb(proc.pid), 1)
                small = name == "D" or q
                first, last = (2_000, 10_000) if small else (20_000, 100_000)
                done = self.send(url, first, 0)
                rss_a = T.rss_mb(proc.pid)
                done = self.send(url, last, done)
                rss_b = T.rss_mb(proc.pid)
                t["rss_growth"] = {
                    "from_request": first,
                    "to_request": last,
                    "sent": done,
                    "rss_mb_from": round(rss_a, 1),
                    "rss_mb_to": round(rss_b, 1),
                    "growth_pct": round((rss_b - rss_a) / rss_a * 100, 2),
                }
            t["max_100k"] = self._best(
                [self._level(name, pid, url, "100k", c, seconds) for c in levels["100k"]]
            )
            if name in PAIRED:
                live[name] = (proc, url, pid)
                continue
            t["max_2k"] = self._best(
                [self._level(name, pid, url, "2k", c, seconds) for c in levels["2k"]]
            )
            self._done(name, proc)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in live}
        for i in range(rounds):
            order = list(live) if i % 2 == 0 else list(reversed(live))
            log(f"throughput 2KB, round {i + 1} of {rounds}: {', '.join(order)}")
            for name in order:
                _proc, url, pid = live[name]
                for c in levels["2k"]:
                    runs[name].append(
                        {"round": i + 1, **self._level(name, pid, url, "2k", c, seconds)}
                    )
        for name, (proc, _url, _pid) in live.items():
            best = self._best(runs[name])
            best["per_round"] = [
                self._best([r for r in runs[name] if r["round"] == i + 1])["rps"]
                for i in range(rounds)
            ]
            self.target(name)["max_2k"] = best
            self._done(name, proc)

    def _level(
        self, name: str, pid: int, url: str, body: str, conns: int, seconds: float
    ) -> dict[str, Any]:
        r = self.measured(pid, url, body, conns, seconds)
        log(
            f"  {name} {body} c={conns}: {r['rps']:.0f} rps, errors {r['errors']}, "
            f"p50 {r['lat_p50_us'] / 1000:.2f} ms, cpu/req {r.get('cpu_us_per_req') or 0:.0f} us"
        )
        return {"conns": conns, **r}

    @staticmethod
    def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
        """The run with the most requests per second among those with no error."""
        ok = [r for r in runs if r["errors"] == 0]
        best = max(ok, key=lambda r: r["rps"]) if ok else None
        return {
            "rps": round(best["rps"]) if best else None,
            "conns": best["conns"] if best else None,
            "cpu_us_per_req": round(best["cpu_us_per_req"], 1)
            if best and best.get("cpu_us_per_req")
            else None,
            "p50_ms": best["lat_p50_us"] / 1000 if best else None,
            "p99_ms": best["lat_p99_us"] / 1000 if best else None,
            "runs": runs,
        }

    def _done(self, name: str, proc: T.Proc | None) -> None:
        if proc is not None:
            self.target(name)["rss_mb_end"] = round(T.rss_mb(proc.pid), 1)
            self.stop(proc)

    def latency(self, names: list[str], slow_up: str, c_max: float) -> None:
        seconds = 5 if self.quick else 12
        rates = {f"{int(f * 100)}%": round(c_max * f) for f in (0.25, 0.5, 0.8)}
        self.result["latency_rates"] = rates
        for name in names:
            log(f"latency (50 ms upstream): {name}")
            proc, url = self.start(name, slow_up)
            self.wrk(url, "2k", 32, 2)  # warm-up
            t = self.target(name).setdefault("latency", {})
            for label, rate in rates.items():
                conns = max(32, int(rate * 0.05 * 3))
                r = self.wrk(url, "2k", conns, seconds, rate=rate)
                t[label] = {
                    "rate": rate,
                    "achieved_rps": round(r["rps"]),
                    "errors": r["errors"],
                    "p50_ms": r["lat_p50_us"] / 1000,
                    "p99_ms": r["lat_p99_us"] / 1000,
                    "saturated": r["rps"] < 0.95 * rate,
                }
                log(
                    f"  {name} @{label} ({rate}/s): achieved {r['rps']:.0f}, p50 "
                    f"{r['lat_p50_us'] / 1000:.2f} ms, p99 {r['lat_p99_us'] / 1000:.2f} ms, "
                    f"errors {r['errors']}"
                )
            if proc is not None:
                self.stop(proc)

    def streaming(self, names: list[str], json_up: str, sse_up: str) -> None:
        n = 300 if self.quick else 2000
        for name in names:
            if name in T.FLOOR:  # floor.py re-frames whole answers: no streaming figures
                self.target(name)["stream"] = {"skipped": "re-frames whole answers"}
                continue
            log(f"streaming TTFB: {name}")
            if name == "A":
                proc, url = None, sse_up + UPSTREAM_PATH
            elif name in ("B", "B-starlette"):
                proc, url = self.start(name, json_up)
                url = url.replace(UPSTREAM_PATH, "/sse" + UPSTREAM_PATH)
            else:
                proc, url = self.start(name, sse_up)
            cmd = T.pinned(
                [
                    str(T.VENV_PY),
                    str(T.HERE / "ttfb.py"),
                    url,
                    str(self.bodies["2k-stream"]),
                    "--n",
                    str(n),
                    "--concurrency",
                    "4",
                ],
                self.load_cpus,
            )
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            try:
                r = json.loads(out.stdout.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                r = {"error": (out.stdout + out.stderr)[-400:]}
            self.target(name)["stream"] = r
            log(f"  {name}: {r}")
            if proc is not None:
                self.stop(proc)

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        names = [n.strip() for n in self.args.targets.split(",") if n.strip()]
        if "D" in names:
            why = T.litellm_status()
            if why is not None:
                self.result["targets"]["D"] = {"unavailable": why}
                names.remove("D")
                log(f"D skipped: {why}")
        self.result["litellm_version"] = T.LITELLM_VERSION
        upstream, json_up, sse_up, slow_up = T.start_upstream(self.work, self.load_cpus)
        self.upstream_pid = upstream[0].pid
        self.procs.extend(upstream)
        try:
            self.throughput(names, json_up)
            self.result["loadavg"]["after_throughput"] = loadavg()
            ref = next((n for n in ("C", "C-before", "B") if n in names), None)
            c_max = self.args.rate or (self.target(ref)["max_2k"]["rps"] if ref else 1000)
            self.latency(names, slow_up, c_max)
            self.result["loadavg"]["after_latency"] = loadavg()
            self.streaming(names, json_up, sse_up)
        finally:
            self.stop_all()
        self.result["loadavg"]["end"] = loadavg()
        self.result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        return self.result


def _path(url: str) -> str:
    rest = url.split("://", 1)[1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


# -- report ---------------------------------------------------------------------------------------


def _f(v: Any, fmt: str = "{:.0f}") -> str:
    return "-" if v is None else fmt.format(v)


def report(res: dict[str, Any]) -> str:
    t = res["targets"]
    names = [n for n in t if "unavailable" not in t[n]]
    a = t.get("A", {})
    lines = [
        f"# hybridllm gateway benchmark ({res['label']}, {'quick' if res['quick'] else 'full'})",
        f"load average: start {res['loadavg']['start']}, end {res['loadavg'].get('end')}; "
        f"{res['machine']['cpus']} CPUs, pinned: {res['machine']['pinning']}; "
        f"LiteLLM {res.get('litellm_version')}",
        "",
    ]
    for n, v in t.items():
        if "unavailable" in v:
            lines.append(f"{n}: not run: {v['unavailable']}")
    lines += [
        "## Throughput (wrk, 1 thread, no upstream delay)",
        "",
        "| target | max rps 2KB | p50 ms | p99 ms | CPU-us/req | max rps 100KB | "
        "CPU-us/req 100KB | RSS MB | RSS growth |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n in names:
        v = t[n]
        m2, m100 = v.get("max_2k", {}), v.get("max_100k", {})
        g = v.get("rss_growth")
        growth = (
            (f"{g['growth_pct']:+.2f}% ({g['from_request'] // 1000}k->{g['to_request'] // 1000}k)")
            if g
            else "-"
        )
        lines.append(
            f"| {n} | {_f(m2.get('rps'))} | {_f(m2.get('p50_ms'), '{:.2f}')} | "
            f"{_f(m2.get('p99_ms'), '{:.2f}')} | {_f(m2.get('cpu_us_per_req'))} | "
            f"{_f(m100.get('rps'))} | {_f(m100.get('cpu_us_per_req'))} | "
            f"{_f(v.get('rss_mb_end'), '{:.1f}')} | {growth} |"
        )
    rates = res.get("latency_rates", {})
    if rates:
        lines += [
            "",
            "## Added latency over A, 50 ms upstream, fixed rate (ms)",
            "",
            "| target | " + " | ".join(f"{k} ({r}/s) p50 / p99" for k, r in rates.items()) + " |",
            "|---|" + "---|" * len(rates),
        ]
        al = a.get("latency", {})
        for n in names:
            lat = t[n].get("latency", {})
            cells = []
            for k in rates:
                x, base = lat.get(k), al.get(k)
                if not x:
                    cells.append("-")
                    continue
                if n == "A" or not base:
                    cell = f"{x['p50_ms']:.2f} / {x['p99_ms']:.2f} (abs)"
                else:
                    cell = (
                        f"{x['p50_ms'] - base['p50_ms']:+.2f} / {x['p99_ms'] - base['p99_ms']:+.2f}"
                    )
                if x["saturated"] or x["errors"]:
                    cell += f" [got {x['achieved_rps']}/s, {x['errors']} err]"
                cells.append(cell)
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Streaming time to first byte (2 KB, concurrency 4)",
        "",
        "| target | TTFB p50 ms | TTFB p99 ms | added p50 ms | added p99 ms |",
        "|---|---|---|---|---|",
    ]
    sa = a.get("stream", {})
    for n in names:
        s = t[n].get("stream", {})
        if "ttfb_p50_us" not in s:
            lines.append(f"| {n} | {s} | | | |")
            continue
        add50 = add99 = None
        if "ttfb_p50_us" in sa:
            add50 = (s["ttfb_p50_us"] - sa["ttfb_p50_us"]) / 1000
            add99 = (s["ttfb_p99_us"] - sa["ttfb_p99_us"]) / 1000
        lines.append(
            f"| {n} | {s['ttfb_p50_us'] / 1000:.2f} | {s['ttfb_p99_us'] / 1000:.2f} | "
            f"{_f(add50, '{:+.2f}')} | {_f(add99, '{:+.2f}')} |"
        )
    # the targets
    c, b, d = t.get("C", {}), t.get("B", {}), t.get("D", {})
    cm, bm, dm = (x.get("max_2k", {}).get("rps") for x in (c, b, d))
    lines += ["", "## Targets (issue 7)", ""]
    if cm and bm:
        line = f"- C / B max rps: {cm / bm:.0%} (target >= 60%)"
        cr, br = (x["max_2k"].get("per_round") or [] for x in (c, b))
        if len(cr) > 1 and len(cr) == len(br) and all(cr) and all(br):
            pairs = ", ".join(f"{x / y:.0%}" for x, y in zip(cr, br, strict=True))
            line += f"; round by round {pairs}"
        lines.append(line)
    if cm and dm:
        lines.append(f"- C / D max rps: {cm / dm:.1f}x (target >= 5x)")
    half, base = c.get("latency", {}).get("50%"), a.get("latency", {}).get("50%")
    if half and base:
        lines.append(
            f"- C added latency at 50% of max: p50 {half['p50_ms'] - base['p50_ms']:+.2f} ms "
            f"(<= 1), p99 {half['p99_ms'] - base['p99_ms']:+.2f} ms (<= 5)"
        )
    if c.get("rss_growth"):
        g = c["rss_growth"]
        lines.append(
            f"- C RSS growth {g['from_request']}->{g['to_request']}: {g['growth_pct']:+.2f}% (< 5%)"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short runs, fewer levels")
    p.add_argument(
        "--targets",
        default="A,B,C,D",
        help="comma list of A,B,C,D and B-starlette, C-before (--before-src), C-difficulty "
        "(+ a difficulty rule), C-nodurable (HYBRIDLLM_LEDGER_DURABLE=0), F, F-aiohttp, F-uvicorn, "
        "F-uvicorn-aiohttp (floor.py: the pass-through on bare asyncio protocols or uvicorn, "
        "with its own or aiohttp's client)",
    )
    p.add_argument("--label", default="run")
    p.add_argument("--before-src", help="a src/ tree for target C-before (PYTHONPATH)")
    p.add_argument("--rate", type=float, help="C's max rps for the latency rates (else measured)")
    p.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    p.add_argument("--report", help="print the table of an earlier results JSON and exit")
    args = p.parse_args()
    if args.report:
        print(report(json.loads(Path(args.report).read_text())))
        return
    bench = Bench(args)
    log(f"work dir {bench.work}")
    res = bench.run()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"gateway-{args.label}-{stamp}.json"
    text = report(res)
    res["table"] = text
    out.write_text(json.dumps(res, indent=2))
    (RESULTS / f"gateway-{args.label}-latest.json").write_text(json.dumps(res, indent=2))
    print()
    print(text)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
