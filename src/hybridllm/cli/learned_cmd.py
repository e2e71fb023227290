"""``hybridllm score``, ``eval-router`` and ``calibrate``: commands of the difficulty model."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import orjson
from rich.table import Table

from hybridllm.cli.common import console, err_console, fail
from hybridllm.errors import UsageError
from hybridllm.learned.calibrate import calibrate_threshold
from hybridllm.learned.data import load_outcomes, read_prompts
from hybridllm.learned.evaluate import RouterReport, evaluate_router
from hybridllm.learned.model import DifficultyModel, ModelFormatError

__all__ = ["run_calibrate", "run_eval_router", "run_score"]


def _load(model: Path | None) -> DifficultyModel:
    try:
        return DifficultyModel.load(model)
    except ModelFormatError as exc:
        fail(UsageError(str(exc)))


def run_score(model: Path | None) -> None:
    """JSONL ``{"prompt": ...}`` on stdin -> one ``{"score": x}`` line each on stdout."""
    difficulty = _load(model)
    out = sys.stdout
    try:
        for prompt in read_prompts(sys.stdin.buffer):
            out.write(orjson.dumps({"score": round(difficulty.score(prompt), 6)}).decode())
            out.write("\n")
    except ValueError as exc:
        fail(UsageError(f"stdin: {exc}"))
    out.flush()


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def print_report(report: RouterReport, title: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("router")
    table.add_column("APGR", justify="right")
    table.add_column("CPT(50%)", justify="right")
    table.add_column("CPT(80%)", justify="right")
    for name, m in (
        ("difficulty", report.router),
        ("prompt length", report.length),
        ("random", report.random),
    ):
        table.add_row(name, f"{m.apgr:.3f}", _pct(m.cpt50), _pct(m.cpt80))
    console.print(table)
    console.print(
        f"{report.n} prompts; quality strong {report.strong_quality:.3f}, "
        f"weak {report.weak_quality:.3f}. CPT(x) = share of strong calls to recover x of the gap."
    )


def run_eval_router(data: Path, strong: str, weak: str, model: Path | None, as_json: bool) -> None:
    difficulty = _load(model)
    try:
        outcomes = load_outcomes(data, strong, weak)
        report = evaluate_router(outcomes.outcomes, difficulty.score)
    except OSError as exc:
        fail(UsageError(f"cannot read {data}: {exc.strerror or exc}"))
    except ValueError as exc:
        fail(UsageError(f"{data}: {exc} (strong {strong}, weak {weak})"))
    if as_json:
        payload = {"data": str(data), "strong": strong, "weak": weak} | report.to_json()
        payload["skipped"] = outcomes.skipped
        console.out(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    print_report(report, f"{data.name}: {strong} vs {weak} ({outcomes.metric})")
    if outcomes.skipped:
        err_console.print(f"skipped {outcomes.skipped} lines without both models' outcomes")


def _recorded_scores(ledger: str, difficulty: DifficultyModel) -> list[float]:
    """The model's scores of the requests the ledger holds features of (no text needed)."""
    from hybridllm.learned.record import RecordedFeatures, RecordFormatError, logit_of
    from hybridllm.ledger import open_store
    from hybridllm.ledger.learning import learning_store

    store = open_store(ledger)
    scores: list[float] = []
    try:
        for request in learning_store(store).recorded():
            try:
                z = logit_of(difficulty, RecordedFeatures.decode(request.features))
            except (RecordFormatError, ValueError):
                continue
            scores.append(
                1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
            )
    finally:
        store.close()
    return scores


def run_calibrate(
    strong_share: float, data: Path | None, ledger: str | None, model: Path | None, as_json: bool
) -> None:
    if (ledger is None) == (data is None):
        fail(
            UsageError(
                'give --data FILE.jsonl (one {"prompt": ...} per line) or --ledger URL (the '
                "requests recorded with learning.record: true)"
            )
        )
    if not 0.0 <= strong_share <= 1.0:
        fail(UsageError("--strong-share must be between 0 and 1"))
    difficulty = _load(model)
    if ledger is not None:
        scores = _recorded_scores(ledger, difficulty)
        source = ledger
    else:
        assert data is not None
        source = str(data)
        try:
            with data.open("rb") as fh:
                scores = [difficulty.score(p) for p in read_prompts(fh)]
        except OSError as exc:
            fail(UsageError(f"cannot read {data}: {exc.strerror or exc}"))
        except ValueError as exc:
            fail(UsageError(f"{data}: {exc}"))
    try:
        calibration = calibrate_threshold(scores, strong_share)
    except ValueError as exc:
        fail(UsageError(f"{source}: {exc}"))
    if as_json:
        payload = {
            "threshold": calibration.threshold,
            "rule": calibration.rule_snippet(),
            "requested_share": calibration.requested_share,
            "achieved_share": round(calibration.achieved_share, 6),
            "n": calibration.n,
        }
        console.out(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    console.print(
        f"difficulty > {calibration.text} sends {_pct(calibration.achieved_share)} of "
        f"{calibration.n} prompts to the strong side (asked {_pct(strong_share)})."
    )
    console.print("Add to a rule that routes to your strong deployment:")
    console.print(f"  {calibration.rule_snippet()}")
