"""Rebuild the difficulty model shipped in ``src/hybridllm/learned/model.json``.

Run: .venv/bin/python scripts/train_router.py [--data ../shared/data/routing] [--out PATH]
Needs the ``train`` extra (scikit-learn). Deterministic: fixed split, fixed solver, no sampling.

1. Selection, on the *train* splits only: for every feature set x label x regularisation, train on
   three tasks' train splits and measure APGR on the fourth task's train split (leave one task
   out); the configuration with the best mean wins. The test splits take no part in it.
2. Report: for each feature set (at its selected label and C), leave-one-task-out APGR on the
   *test* split of the held-out task; then the final model, trained on every task's train split,
   on each test split, beside the prompt-length and random baselines.
3. Write the artifact: weights, the signals' scaling, data sources, labels, figures.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
from scipy import sparse
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from routing_data import LABELS, SOURCES, Example, load_split  # noqa: E402

from hybridllm.learned import features as F  # noqa: E402
from hybridllm.learned.data import Outcome  # noqa: E402
from hybridllm.learned.evaluate import evaluate_router  # noqa: E402
from hybridllm.learned.metrics import evaluate_scores  # noqa: E402
from hybridllm.learned.model import ARTIFACT_FORMAT, DEFAULT_PATH, DifficultyModel  # noqa: E402

TASKS = ("arc", "mbpp", "winogrande", "alpaca")


@dataclass(frozen=True, slots=True)
class FeatureSet:
    name: str
    signals: bool
    word_bits: int | None = None
    char_bits: int | None = None  # experiment only: sklearn char n-grams (not shipped)
    embed: bool = False  # experiment only: MiniLM sentence embeddings (optional extra)


FEATURE_SETS = {
    "signals": FeatureSet("signals", signals=True),
    "words": FeatureSet("words", signals=False, word_bits=18),
    "signals+words": FeatureSet("signals+words", signals=True, word_bits=18),
    "signals+chars": FeatureSet("signals+chars", signals=True, char_bits=18),
}
C_GRID = (0.1, 1.0, 10.0)


class Featurizer:
    """Feature matrices for a list of prompts, cached per family."""

    def __init__(self, prompts: list[str]) -> None:
        self.prompts = prompts
        self._signals: np.ndarray | None = None
        self._words: dict[int, sparse.csr_matrix] = {}
        self._chars: dict[int, sparse.csr_matrix] = {}
        self._embed: np.ndarray | None = None

    def signals(self) -> np.ndarray:
        if self._signals is None:
            self._signals = np.array([F.signals(p) for p in self.prompts], dtype=np.float64)
        return self._signals

    def words(self, bits: int) -> sparse.csr_matrix:
        if bits not in self._words:
            rows, cols, vals = [], [], []
            for i, p in enumerate(self.prompts):
                for b, v in F.hashed_ngrams(p, bits).items():
                    rows.append(i)
                    cols.append(b)
                    vals.append(v)
            shape = (len(self.prompts), 1 << bits)
            self._words[bits] = sparse.csr_matrix((vals, (rows, cols)), shape=shape)
        return self._words[bits]

    def chars(self, bits: int) -> sparse.csr_matrix:
        if bits not in self._chars:
            from sklearn.feature_extraction.text import HashingVectorizer

            vec = HashingVectorizer(
                analyzer="char_wb", ngram_range=(3, 5), n_features=1 << bits, binary=True
            )
            self._chars[bits] = vec.transform([F.clip_text(p) for p in self.prompts]).tocsr()
        return self._chars[bits]

    def embed(self) -> np.ndarray:
        if self._embed is None:
            from embed_minilm import embed_texts

            self._embed = embed_texts(self.prompts)
        return self._embed


def build(
    feats: Featurizer, idx: np.ndarray, fs: FeatureSet, scale: tuple[np.ndarray, np.ndarray] | None
) -> tuple[sparse.csr_matrix, tuple[np.ndarray, np.ndarray]]:
    """The design matrix of rows ``idx``; signals standardised (fit on these rows if no scale)."""
    blocks: list[sparse.spmatrix] = []
    if fs.word_bits:
        blocks.append(feats.words(fs.word_bits)[idx])
    if fs.char_bits:
        blocks.append(feats.chars(fs.char_bits)[idx])
    if fs.embed:
        blocks.append(sparse.csr_matrix(feats.embed()[idx]))
    if fs.signals:
        x = feats.signals()[idx]
        if scale is None:
            mean, std = x.mean(axis=0), x.std(axis=0)
            std[std < 1e-9] = 1.0
            scale = (mean, std)
        blocks.append(sparse.csr_matrix((x - scale[0]) / scale[1]))
    if scale is None:
        scale = (np.zeros(0), np.ones(0))
    return sparse.hstack(blocks).tocsr(), scale


def fit(
    x: sparse.csr_matrix, target: np.ndarray, weight: np.ndarray, c: float
) -> LogisticRegression:
    """Logistic regression on a soft target: each row once as 1 (weight p) and once as 0."""
    n = x.shape[0]
    xx = sparse.vstack([x, x]).tocsr()
    yy = np.concatenate([np.ones(n), np.zeros(n)])
    ww = np.concatenate([weight * target, weight * (1.0 - target)])
    keep = ww > 0
    model = LogisticRegression(C=c, solver="liblinear", max_iter=1000, tol=1e-4, random_state=0)
    model.fit(xx[keep], yy[keep], sample_weight=ww[keep])
    return model


class Corpus:
    """All examples of both splits, with their features computed once."""

    def __init__(self, train: dict[str, list[Example]], test: dict[str, list[Example]]) -> None:
        self.examples: list[Example] = []
        self.index: dict[tuple[str, str], np.ndarray] = {}
        for split, tasks in (("train", train), ("test", test)):
            for task, rows in tasks.items():
                start = len(self.examples)
                self.examples.extend(rows)
                self.index[(split, task)] = np.arange(start, len(self.examples))
        self.feats = Featurizer([e.prompt for e in self.examples])
        self.strong = np.array([e.strong for e in self.examples])
        self.weak = np.array([e.weak for e in self.examples])

    def rows(self, split: str, tasks: tuple[str, ...]) -> np.ndarray:
        return np.concatenate([self.index[(split, t)] for t in tasks])

    def target(self, idx: np.ndarray, label: str) -> np.ndarray:
        return np.array([self.examples[i].labels[label] for i in idx])

    def task_weights(self, idx: np.ndarray) -> np.ndarray:
        """Each task weighs the same in total, whatever its size."""
        tasks = [self.examples[i].task for i in idx]
        counts = {t: tasks.count(t) for t in set(tasks)}
        return np.array([len(idx) / (len(counts) * counts[t]) for t in tasks])


def train_and_score(
    corpus: Corpus,
    train_idx: np.ndarray,
    eval_idx: np.ndarray,
    fs: FeatureSet,
    label: str,
    c: float,
) -> np.ndarray:
    x, scale = build(corpus.feats, train_idx, fs, None)
    model = fit(x, corpus.target(train_idx, label), corpus.task_weights(train_idx), c)
    xe, _ = build(corpus.feats, eval_idx, fs, scale)
    return np.asarray(model.decision_function(xe))


def apgr_of(corpus: Corpus, idx: np.ndarray, scores: np.ndarray) -> float:
    strong, weak = [float(v) for v in corpus.strong[idx]], [float(v) for v in corpus.weak[idx]]
    return float(evaluate_scores([float(v) for v in scores], strong, weak).apgr)


def loto(corpus: Corpus, split: str, fs: FeatureSet, label: str, c: float) -> dict[str, float]:
    """Train on the other tasks' train splits; APGR on ``split`` of each held-out task."""
    out: dict[str, float] = {}
    for held in TASKS:
        others = tuple(t for t in TASKS if t != held)
        train_idx = corpus.rows("train", others)
        eval_idx = corpus.index[(split, held)]
        out[held] = apgr_of(
            corpus, eval_idx, train_and_score(corpus, train_idx, eval_idx, fs, label, c)
        )
    out["mean"] = sum(out[t] for t in TASKS) / len(TASKS)
    return out


def select(
    corpus: Corpus, sets: list[FeatureSet], labels: tuple[str, ...], grid: tuple[float, ...]
):
    """Per feature set: the (label, C) with the best mean LOTO APGR on the train splits."""
    best: dict[str, tuple[float, str, float, dict[str, float]]] = {}
    for fs in sets:
        for label in labels:
            for c in grid:
                res = loto(corpus, "train", fs, label, c)
                line = " ".join(f"{t} {res[t]:.3f}" for t in TASKS)
                print(
                    f"  {fs.name:16} {label:10} C={c:<5} {line}  mean {res['mean']:.3f}", flush=True
                )
                if fs.name not in best or res["mean"] > best[fs.name][0]:
                    best[fs.name] = (res["mean"], label, c, res)
    return best


def export(
    model: LogisticRegression, fs: FeatureSet, scale: tuple[np.ndarray, np.ndarray]
) -> dict[str, object]:
    """Weights in the artifact's form: signals' scaling folded in, n-gram weights sparse."""
    coef = model.coef_[0]
    intercept = float(model.intercept_[0])
    out: dict[str, object] = {}
    offset = 0
    if fs.word_bits:
        size = 1 << fs.word_bits
        w = coef[offset : offset + size]
        nz = np.flatnonzero(np.abs(w) > 1e-6)
        out["ngram_bits"] = fs.word_bits
        out["ngram_orders"] = [1, 2]
        out["ngram_index"] = [int(i) for i in nz]
        out["ngram_weight"] = [float(f"{w[i]:.5g}") for i in nz]
        offset += size
    if fs.signals:
        mean, std = scale
        w = coef[offset : offset + len(mean)] / std
        intercept -= float(np.dot(w, mean))
        out["signal_names"] = list(F.SIGNAL_NAMES)
        out["signal_weight"] = [float(f"{v:.6g}") for v in w]
    out["intercept"] = float(f"{intercept:.8g}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/routing")
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--limit", type=int, default=None, help="cap each task (quick runs)")
    parser.add_argument("--sets", default="signals,words,signals+words,signals+chars")
    parser.add_argument("--labels", default=",".join(LABELS))
    parser.add_argument("--grid", default=",".join(str(c) for c in C_GRID))
    parser.add_argument("--embed", action="store_true", help="also try MiniLM embeddings")
    parser.add_argument(
        "--ship", default="", help="feature set to ship (default: best shippable by selection)"
    )
    args = parser.parse_args(argv)
    t0 = time.monotonic()

    corpus = Corpus(
        load_split(args.data, "train", args.limit), load_split(args.data, "test", args.limit)
    )
    sizes = {f"{s}/{t}": len(corpus.index[(s, t)]) for s in ("train", "test") for t in TASKS}
    print("examples:", " ".join(f"{k} {v}" for k, v in sizes.items()))
    sets = [FEATURE_SETS[n] for n in args.sets.split(",") if n]
    if args.embed:
        sets += [
            FeatureSet("embed", signals=False, embed=True),
            FeatureSet("signals+embed", signals=True, embed=True),
        ]
    labels = tuple(args.labels.split(","))
    grid = tuple(float(c) for c in args.grid.split(","))

    print("\n1. selection: leave-one-task-out APGR on the train splits")
    best = select(corpus, sets, labels, grid)

    print("\n2. leave-one-task-out APGR on the test splits (selected label and C per set)")
    loto_test: dict[str, dict[str, object]] = {}
    for fs in sets:
        _, label, c, val = best[fs.name]
        res = loto(corpus, "test", fs, label, c)
        loto_test[fs.name] = {"label": label, "C": c, "select_mean": round(val["mean"], 4)} | {
            t: round(v, 4) for t, v in res.items()
        }
        line = " ".join(f"{t} {res[t]:.3f}" for t in TASKS)
        print(f"  {fs.name:16} ({label}, C={c}) {line}  mean {res['mean']:.3f}")

    shippable = [fs for fs in sets if not fs.char_bits and not fs.embed]
    ship = FEATURE_SETS[args.ship] if args.ship else max(shippable, key=lambda fs: best[fs.name][0])
    _, label, c, _ = best[ship.name]
    print(f"\n3. final model: {ship.name}, label {label}, C={c}, trained on every train split")
    train_idx = corpus.rows("train", TASKS)
    x, scale = build(corpus.feats, train_idx, ship, None)
    model = fit(x, corpus.target(train_idx, label), corpus.task_weights(train_idx), c)
    weights = export(model, ship, scale)
    print(
        f"  {len(weights.get('ngram_index', []))} n-gram weights, "  # type: ignore[arg-type]
        f"{len(weights.get('signal_weight', []))} signal weights"
    )  # type: ignore[arg-type]

    shipped = DifficultyModel.from_json(weights)  # evaluate exactly what eval-router will load
    evaluation: dict[str, dict[str, object]] = {}
    print(
        f"  {'test split':11} {'n':>4}  {'difficulty':>18}  {'prompt length':>18}  {'random':>18}"
    )
    print(f"  {'':11} {'':>4}  " + "  ".join(f"{'APGR CPT50 CPT80':>18}" for _ in range(3)))
    for task in TASKS:
        idx = corpus.index[("test", task)]
        report = evaluate_router(
            [
                Outcome(
                    corpus.examples[i].prompt, float(corpus.strong[i]), float(corpus.weak[i]), task
                )
                for i in idx
            ],
            shipped.score,
        )
        evaluation[task] = report.to_json()
        cells = "  ".join(
            f"{m.apgr:.3f} {m.cpt50:5.1%} {m.cpt80:5.1%}".rjust(18)
            for m in (report.router, report.length, report.random)
        )
        print(f"  {task:11} {report.n:>4}  {cells}")

    artifact: dict[str, object] = {
        "format": ARTIFACT_FORMAT,
        "features": {
            "signals": ship.signals,
            "words": bool(ship.word_bits),
            "head_chars": F.HEAD_CHARS,
            "tail_chars": F.TAIL_CHARS,
        },
        **weights,
        "metadata": {
            "built_by": "scripts/train_router.py",
            "meaning": "predicted chance that the cheap model falls short on the prompt",
            "sources": SOURCES,
            "feature_set": ship.name,
            "label": label,
            "C": c,
            "train_examples": {t: len(corpus.index[("train", t)]) for t in TASKS},
            "limit": args.limit,
            "selection_loto_train": {
                n: {"label": b[1], "C": b[2], **{k: round(v, 4) for k, v in b[3].items()}}
                for n, b in best.items()
            },
            "loto_test": loto_test,
            "test": evaluation,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(artifact) + b"\n")
    size = args.out.stat().st_size
    print(f"\nwrote {args.out} ({size / 1024:.0f} KiB) in {time.monotonic() - t0:.0f} s")
    return 0 if all(math.isfinite(v) for v in weights.get("signal_weight", [0.0])) else 1  # type: ignore[union-attr]


if __name__ == "__main__":
    raise SystemExit(main())
