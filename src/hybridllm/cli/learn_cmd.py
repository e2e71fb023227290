"""``hybridllm feedback`` and ``hybridllm learn``: outcomes in, a better router out (or none)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import orjson
from rich.table import Table

from hybridllm.cli.common import console, err_console, fail, state
from hybridllm.config.loader import LoadedConfig, load_config
from hybridllm.errors import HybridLLMError, UsageError
from hybridllm.learned.learn import (
    LearnOptions,
    LearnResult,
    NotEnoughDataError,
    labelled_requests,
    learn,
    public_examples,
)
from hybridllm.learned.model import DEFAULT_PATH, DifficultyModel, ModelFormatError, ModelSource
from hybridllm.learned.train import artifact
from hybridllm.ledger import open_store
from hybridllm.ledger.learning import Feedback, check_score, learning_store

__all__ = ["DEFAULT_ARTIFACT", "run_feedback", "run_learn"]

DEFAULT_ARTIFACT = "hybridllm-difficulty.json"  # beside the config when learning.model is unset


def _config() -> LoadedConfig:
    try:
        return load_config(state.config_path)
    except HybridLLMError as exc:
        fail(exc)


def run_feedback(request_id: str, score: float, comment: str | None, ledger: str | None) -> None:
    try:
        value = check_score(score)
    except ValueError as exc:
        fail(UsageError(str(exc)))
    url = ledger or _config().config.ledger
    store = open_store(url)
    try:
        tables = learning_store(store)
        exists, _ = tables.request_key(request_id)
        if not exists:
            fail(UsageError(f"no request '{request_id}' in the ledger {url}"))
        tables.add_feedback(Feedback(request_id, value, "user", time.time(), comment))
    finally:
        store.close()
    console.print(f"recorded score {value:g} for request {request_id}")


def _target(loaded: LoadedConfig, out: Path | None) -> Path:
    if out is not None:
        return out
    if loaded.config.learning.model is not None:
        return Path(loaded.config.learning.model).expanduser()
    return Path(loaded.path).parent / DEFAULT_ARTIFACT


def _write(path: Path, payload: dict[str, object]) -> None:
    """Write atomically (a reader sees the old file or the new one, never none); the file it
    replaces is kept as ``<name>.prev``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(payload) + b"\n")
        if path.exists():
            shutil.copyfile(path, path.with_name(path.name + ".prev"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _same(a: Path, b: Path) -> bool:
    return a.expanduser().resolve() == b.expanduser().resolve()


def run_learn(
    out: Path | None,
    holdout: float,
    min_gain: float,
    public_data: Path | None,
    ledger: str | None,
    seed: int,
    as_json: bool,
) -> None:
    loaded = _config()
    config = loaded.config
    if not 0.0 < holdout < 1.0:
        fail(UsageError("--holdout must be between 0 and 1 (the share of recent traffic held out)"))
    strong_tier = max(d.tier for d in config.deployments.values())
    current_path = ModelSource(config.learning.model).resolved  # before a new one is written
    try:
        current = DifficultyModel.load(current_path)
    except ModelFormatError as exc:
        fail(UsageError(str(exc)))
    url = ledger or config.ledger
    store = open_store(url)
    try:
        items, counts = labelled_requests(learning_store(store).recorded(), strong_tier)
    finally:
        store.close()
    if not items:
        fail(
            UsageError(
                f"no labelled requests in the ledger {url}: learn needs requests recorded with "
                "learning.record: true that have feedback (POST /v1/feedback, hybridllm "
                "feedback), an escalation, or a judge's score"
            )
        )
    public = []
    if public_data is not None:
        if not public_data.is_dir():
            fail(UsageError(f"--public-data {public_data} is not a directory"))
        shipped = DifficultyModel.load(DEFAULT_PATH)
        public = public_examples(public_data, shipped.metadata.get("sources"))
    options = LearnOptions(holdout=holdout, min_gain=min_gain, seed=seed)
    try:
        result = learn(items, current, options, public)
    except NotEnoughDataError as exc:
        fail(UsageError(str(exc)))
    target = _target(loaded, out)
    in_use = False
    if result.better:
        metadata = {
            "built_by": "hybridllm learn",
            "trained_at": round(time.time(), 3),
            "previous": str(current_path),
            "learn": result.to_json(),
        }
        _write(target, artifact(result.candidate, metadata))
        configured = config.learning.model
        in_use = configured is not None and _same(Path(configured), target)
    payload: dict[str, object] = {
        "ledger": url,
        "current_model": str(current_path),
        "recorded": {
            "labelled": counts.labelled,
            "strong_tier_no_label": counts.strong_tier,
            "no_outcome": counts.no_outcome,
            "unreadable": counts.unreadable,
        },
        **result.to_json(),
        "swapped": result.better,
        "written": str(target) if result.better else None,
        "in_use": in_use,
    }
    if as_json:
        console.out(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    _print(result, payload, target, in_use, loaded.path, public_data)


def _print(
    result: LearnResult,
    payload: dict[str, object],
    target: Path,
    in_use: bool,
    config_path: str,
    public_data: Path | None,
) -> None:
    table = Table(title="held-out recorded traffic", title_justify="left")
    table.add_column("model")
    table.add_column("APGR", justify="right")
    table.add_column("AUC", justify="right")
    shown = payload["current_model"]
    current = "current (shipped)" if shown == str(DEFAULT_PATH) else f"current ({shown})"
    table.add_row(current, f"{result.current.apgr:.3f}", f"{result.current.auc:.3f}")
    table.add_row("candidate", f"{result.new.apgr:.3f}", f"{result.new.auc:.3f}")
    console.print(table)
    labels = ", ".join(f"{n} {k}" for k, n in sorted(result.sources.items()))
    console.print(
        f"{result.train} labelled requests trained on, {result.held_out} held out "
        f"({result.held_out_positives} where the cheap tier fell short); labels: {labels}."
    )
    if public_data is None:
        err_console.print(
            "trained on recorded traffic only, regularised towards the current model "
            "(--public-data DIR adds the public routing data)"
        )
    else:
        console.print(f"plus {result.public} public examples from {public_data}")
    if not result.better:
        console.print(f"kept the current model: {result.why}")
        return
    if in_use:
        console.print(f"swapped in: {result.why}; wrote {target}")
        console.print("learning.model names it: the next start of the gateway or library uses it")
    else:
        console.print(f"the candidate is better: {result.why}; wrote {target}")
        console.print(f"to use it, set in {config_path}:")
        console.print(f"  learning:\n    model: {target}")
    console.print(
        "difficulty thresholds in rules were set for the old model's scale; to keep a share S "
        f"on the strong side: hybridllm calibrate --ledger {payload['ledger']} --model {target} "
        "--strong-share S"
    )
