"""The ``hybridllm`` command: a thin front; each command's work lives in its own module."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hybridllm.cli.common import console, fail, state

__all__ = ["app", "main"]

app = typer.Typer(
    name="hybridllm",
    help="Send every LLM request to the cheapest model that does it well, and prove the saving.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Config file (else $HYBRIDLLM_CONFIG, else ./hybridllm.yaml)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


@app.callback()
def _global(config: ConfigOpt = None) -> None:
    state.config_path = config


@app.command()
def init(
    path: Annotated[Path, typer.Option("--path", help="Where to write the config.")] = Path(
        "hybridllm.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter hybridllm.yaml (finds Ollama on localhost:11434 and API keys in the env)."""
    from hybridllm.cli.init_cmd import run_init

    run_init(state.config_path or path, force)


@app.command()
def check(
    offline: Annotated[
        bool, typer.Option("--offline", help="Skip the reachability probes.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Validate the config; list deployments, rules, missing keys, unknown prices, reachability."""
    from hybridllm.cli.check_cmd import run_check

    run_check(offline, as_json)


@app.command()
def route(
    prompt: Annotated[str | None, typer.Argument(help="The prompt; stdin when absent.")] = None,
    task: Annotated[str | None, typer.Option(help="Task type hint.")] = None,
    complexity: Annotated[str | None, typer.Option(help="low | medium | high")] = None,
    cost_center: Annotated[str | None, typer.Option("--cost-center")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1)] = None,
    tokens: Annotated[int | None, typer.Option(min=0, help="Override the token estimate.")] = None,
    tier: Annotated[int | None, typer.Option(min=1, help="Pin a tier.")] = None,
    private: Annotated[
        bool, typer.Option("--private", help="Treat the request as private.")
    ] = False,
    system: Annotated[str | None, typer.Option(help="A system prompt.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The decision and its reasons; no model is called."""
    from hybridllm.cli.route_cmd import run_route

    run_route(
        prompt, task, complexity, cost_center, batch_size, tokens, tier, private, system, as_json
    )


@app.command()
def simulate(
    workload: Annotated[Path, typer.Argument(help="A JSONL workload file.")],
    as_json: JsonOpt = False,
) -> None:
    """What-if pricing of a workload under the config; no model is called."""
    from hybridllm.cli.simulate_cmd import run_simulate

    run_simulate(workload, as_json)


@app.command()
def ask(
    prompt: Annotated[str | None, typer.Argument(help="The prompt; stdin when absent.")] = None,
    tier: Annotated[int | None, typer.Option(min=1, help="Pin a tier.")] = None,
    model: Annotated[str | None, typer.Option(help="Pin a deployment by name.")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Attach a file's text.")] = None,
    system: Annotated[str | None, typer.Option("--system", "-s", help="A system prompt.")] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Tier, deployment, latency, tokens, cost on stderr."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Route and answer; exit code 1 when the request failed."""
    from hybridllm.cli.ask_cmd import run_ask

    run_ask(prompt, tier, model, file, system, verbose, as_json)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default 127.0.0.1, or $HYBRIDLLM_HOST).")
    ] = None,
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8400,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = False,
) -> None:
    """The gateway: OpenAI- and Anthropic-compatible HTTP on uvicorn."""
    from hybridllm.cli.serve_cmd import run_serve

    run_serve(host, port, workers, access_log)


@app.command()
def export(
    since: Annotated[str | None, typer.Option(help="30m, 12h, 7d, 4w or an ISO date.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (else stdout).")] = None,
    ledger: Annotated[str | None, typer.Option(help="Ledger URL (else the config's).")] = None,
) -> None:
    """The ledger as JSON Lines: one object per attempt."""
    from hybridllm.cli.export_cmd import run_export

    run_export(since, out, ledger)


@app.command("mock-upstream")
def mock_upstream(
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8900,
    faults: Annotated[
        Path | None, typer.Option(help="YAML/JSON: path prefix -> fault rules.")
    ] = None,
) -> None:
    """A local fake of the OpenAI, Anthropic and Gemini APIs with programmable faults."""
    from hybridllm.mock import run

    run(port=port, faults_file=faults)


@app.command()
def demo(
    ledger: Annotated[Path | None, typer.Option(help="Where to keep the demo's ledger.")] = None,
) -> None:
    """The engine end to end on embedded defaults: sample requests, routes, costs, the saving."""
    from hybridllm.demo.run import run_demo

    failures = run_demo(ledger)
    raise typer.Exit(1 if failures else 0)


@app.command()
def report(
    since: Annotated[
        str, typer.Option(help="30m, 12h, 7d, 4w or an ISO date (UTC): the period's start.")
    ] = "7d",
    by: Annotated[
        str, typer.Option(help="cost_center | route | deployment | tier | day | key")
    ] = "cost_center",
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV for machines.")] = False,
    ledger: Annotated[
        str | None, typer.Option(help="Ledger URL (else the config's ledger:).")
    ] = None,
) -> None:
    """Requests, tokens, cost, saving, tier shares, fallback/error rates, latency; health."""
    from hybridllm.cli.report_cmd import run_report

    run_report(since, by, as_json, as_csv, ledger)


@app.command()
def dashboard(
    ledger: Annotated[
        str | None, typer.Option(help="Ledger URL (else the config's ledger:).")
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8410,
    no_open: Annotated[
        bool, typer.Option("--no-open", help="Print the URL; do not open a browser.")
    ] = False,
) -> None:
    """The dashboard over a ledger on 127.0.0.1, without serving model traffic."""
    from hybridllm.cli.dashboard_cmd import run_dashboard

    run_dashboard(ledger, port, no_open)


ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", help="A difficulty model artifact (default: the shipped one)."),
]


@app.command()
def score(model: ModelOpt = None) -> None:
    """Difficulty scores: JSONL {"prompt": ...} on stdin, one {"score": x} line each on stdout."""
    from hybridllm.cli.learned_cmd import run_score

    run_score(model)


@app.command("eval-router")
def eval_router(
    data: Annotated[
        Path, typer.Argument(help="JSONL outcomes (correct or judge_score per model).")
    ],
    strong: Annotated[str, typer.Option("--strong", help="The strong model's name in the data.")],
    weak: Annotated[str, typer.Option("--weak", help="The weak model's name in the data.")],
    model: ModelOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """APGR, CPT(50%) and CPT(80%) of the difficulty router vs length and random baselines."""
    from hybridllm.cli.learned_cmd import run_eval_router

    run_eval_router(data, strong, weak, model, as_json)


@app.command()
def calibrate(
    strong_share: Annotated[
        float, typer.Option("--strong-share", help="Share of prompts to send to the strong side.")
    ],
    data: Annotated[
        Path | None, typer.Option("--data", help='JSONL prompts: {"prompt": ...} per line.')
    ] = None,
    ledger: Annotated[
        str | None,
        typer.Option("--ledger", help="Score the requests recorded in this ledger instead."),
    ] = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The difficulty threshold that sends --strong-share of the prompts to the strong side."""
    from hybridllm.cli.learned_cmd import run_calibrate

    run_calibrate(strong_share, data, ledger, model, as_json)


@app.command()
def feedback(
    request_id: Annotated[str, typer.Argument(help="The answer's x-request-id.")],
    score: Annotated[float, typer.Argument(help="0 to 1: 1 = a good answer, 0 = a useless one.")],
    comment: Annotated[str | None, typer.Option(help="A note kept with the score.")] = None,
    ledger: Annotated[
        str | None, typer.Option(help="Ledger URL (else the config's ledger:).")
    ] = None,
) -> None:
    """Score an answer in the ledger, for `hybridllm learn`."""
    from hybridllm.cli.learn_cmd import run_feedback

    run_feedback(request_id, score, comment, ledger)


@app.command()
def learn(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where a better model is written (else learning.model, else "
            "hybridllm-difficulty.json beside the config).",
        ),
    ] = None,
    holdout: Annotated[
        float, typer.Option(help="Share of the most recent labelled traffic held out.")
    ] = 0.2,
    min_gain: Annotated[
        float, typer.Option("--min-gain", help="Held-out APGR gain needed to swap.")
    ] = 0.01,
    public_data: Annotated[
        Path | None,
        typer.Option(
            "--public-data",
            envvar="HYBRIDLLM_ROUTING_DATA",
            help="Also train on the public routing data in this directory.",
        ),
    ] = None,
    ledger: Annotated[
        str | None, typer.Option(help="Ledger URL (else the config's ledger:).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the shuffles and the bootstrap.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Retrain the router on recorded outcomes; swap it in only when better on held-out traffic."""
    from hybridllm.cli.learn_cmd import run_learn

    run_learn(out, holdout, min_gain, public_data, ledger, seed, as_json)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted", style="yellow")
        sys.exit(130)
    except Exception as exc:  # the last net: a clear line, never a traceback
        fail(exc)


if __name__ == "__main__":
    main()
