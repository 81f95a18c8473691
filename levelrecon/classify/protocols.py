"""Evaluation protocols of the OCSDF paper, with scikit-learn baselines on the same splits.

AD (anomaly detection): train on every row, labels unseen, score the same rows.
OC (one-class): train on a random fraction of the normal rows, score the other normal rows and all
anomalies. Features are z-scored with the training rows' statistics, for every method alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from levelrecon.classify.datasets import Dataset, fit_zscore
from levelrecon.classify.metrics import auroc, certified_auroc
from levelrecon.classify.ocsdf import OCSDFClassifier
from levelrecon.errors import InputError

PROTOCOLS = ("ad", "oc")
BASELINES = ("iforest", "ocsvm", "lof")
METHOD_NAMES = {"ocsdf": "OCSDF", "iforest": "Isolation Forest", "ocsvm": "One-Class SVM", "lof": "LOF"}


@dataclass
class Split:
    X_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    same: bool  # test rows are the training rows (AD)


def make_split(ds: Dataset, protocol: str, train_fraction: float = 0.5, seed: int = 0,
               standardize: bool = True) -> Split:
    """Training and test rows of a protocol, z-scored with the training statistics."""
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    if ds.y is None:
        raise InputError(f"{ds.name}: evaluation needs labels (anomaly flags), the data has none")
    if protocol == "ad":
        X_train, X_test, y_test, same = ds.X, ds.X, ds.y, True
    else:
        if not 0.0 < train_fraction < 1.0:
            raise InputError(f"train fraction must be in (0, 1), got {train_fraction}")
        normal = np.flatnonzero(ds.y == 0)
        normal = normal[np.random.default_rng(seed).permutation(len(normal))]
        n_train = int(round(train_fraction * len(normal)))
        if n_train < 2 or n_train == len(normal):
            raise InputError(f"{ds.name}: {len(normal)} normal rows are too few to split for the OC protocol")
        test = np.setdiff1d(np.arange(len(ds.X)), normal[:n_train])
        X_train, X_test, y_test, same = ds.X[normal[:n_train]], ds.X[test], ds.y[test], False
    if len(np.unique(y_test)) != 2:
        raise InputError(f"{ds.name}: the test rows need both normal and anomalous samples")
    if standardize:
        mean, scale = fit_zscore(X_train)
        X_train, X_test = (X_train - mean) / scale, (X_test - mean) / scale
    return Split(X_train, X_test, y_test, same)


def baseline_scores(name: str, split: Split, seed: int = 0) -> np.ndarray:
    """Anomaly scores (higher = more anomalous) of a scikit-learn baseline with its default settings."""
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import LocalOutlierFactor
    from sklearn.svm import OneClassSVM

    if name == "iforest":
        return -IsolationForest(random_state=seed).fit(split.X_train).score_samples(split.X_test)
    if name == "ocsvm":
        return -OneClassSVM(gamma="scale").fit(split.X_train).score_samples(split.X_test)
    if name == "lof":
        k = min(20, len(split.X_train) - 1)
        if split.same:  # scoring the training rows: LOF's own outlier factors (a row is not its own neighbour)
            lof = LocalOutlierFactor(n_neighbors=k).fit(split.X_train)
            return -lof.negative_outlier_factor_
        return -LocalOutlierFactor(n_neighbors=k, novelty=True).fit(split.X_train).score_samples(split.X_test)
    raise InputError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")


@dataclass
class EvalResult:
    """Per-run AUROC of each method and certified AUROC of OCSDF, with mean ± std."""

    dataset: str
    protocol: str
    runs: int
    eps: list[float]
    auroc: dict[str, list[float]] = field(default_factory=dict)
    certified: dict[float, list[float]] = field(default_factory=dict)
    lipschitz: list[float] = field(default_factory=list)
    n_train: int = 0
    n_test: int = 0
    n_anomalies_test: int = 0

    def summary(self) -> dict[str, Any]:
        def ms(values: list[float]) -> dict[str, float]:
            return {"mean": float(np.mean(values)), "std": float(np.std(values)), "runs": values}

        return {
            "dataset": self.dataset, "protocol": self.protocol, "runs": self.runs,
            "n_train": self.n_train, "n_test": self.n_test, "n_anomalies_test": self.n_anomalies_test,
            "auroc": {m: ms(v) for m, v in self.auroc.items()},
            "certified_auroc_ocsdf": {f"{e:g}": ms(v) for e, v in self.certified.items()},
            "lipschitz_ocsdf": max(self.lipschitz) if self.lipschitz else None,
        }


def evaluate(ds: Dataset, protocol: str = "oc", runs: int = 5, eps: tuple[float, ...] = (0.1, 0.5),
             baselines: tuple[str, ...] = BASELINES, params: dict[str, Any] | None = None,
             train_fraction: float = 0.5, seed: int = 0, standardize: bool = True,
             on_run: Callable[[int, int], None] | None = None, checkpoint_dir: str | os.PathLike | None = None,
             on_epoch: Callable[[int, int], None] | None = None) -> EvalResult:
    """OCSDF and the baselines over `runs` seeds (seed, seed+1, ...): the split (OC) and the training vary.

    params : OCSDFClassifier keyword arguments (its `seed` and `standardize` are set here)
    eps : radii of the certified AUROC, in the units the network sees (z-scored when `standardize`)
    checkpoint_dir : keep each run's training state there (`<dataset>-seed<k>.pt`, written every epoch)
        so that an interrupted evaluation resumes its runs; on_epoch : passed to `OCSDFClassifier.fit`
    """
    if runs < 1:
        raise InputError(f"runs must be >= 1, got {runs}")
    unknown = set(baselines) - set(BASELINES)
    if unknown:
        raise InputError(f"unknown baseline(s) {', '.join(sorted(unknown))}; choose from {', '.join(BASELINES)}")
    result = EvalResult(ds.name, protocol, runs, [float(e) for e in eps])
    result.auroc = {m: [] for m in ("ocsdf", *baselines)}
    result.certified = {float(e): [] for e in eps}
    for r in range(runs):
        split = make_split(ds, protocol, train_fraction, seed + r, standardize)
        result.n_train, result.n_test = len(split.X_train), len(split.X_test)
        result.n_anomalies_test = int(split.y_test.sum())
        state = None if checkpoint_dir is None else Path(checkpoint_dir) / f"{ds.name}-seed{seed + r}.pt"
        clf = OCSDFClassifier(**{**(params or {}), "seed": seed + r, "standardize": False})
        clf.fit(split.X_train, checkpoint=state, on_epoch=on_epoch)
        score = -clf.score_samples(split.X_test)
        result.auroc["ocsdf"].append(auroc(split.y_test, score))
        result.lipschitz.append(clf.lipschitz_)
        for e in result.certified:
            result.certified[e].append(certified_auroc(split.y_test, score, e, clf.lipschitz_))
        for name in baselines:
            result.auroc[name].append(auroc(split.y_test, baseline_scores(name, split, seed + r)))
        if on_run is not None:
            on_run(r + 1, runs)
    return result


def parse_margins(text: str) -> tuple[float, ...]:
    """'paper' or a comma-separated list of positive margins."""
    from levelrecon.classify.ocsdf import PAPER_MARGINS

    if text.strip().lower() == "paper":
        return PAPER_MARGINS
    try:
        grid = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"--m-grid: expected 'paper' or numbers separated by commas, got {text!r}") from None
    if not grid or min(grid) <= 0:
        raise InputError(f"--m-grid: margins must be positive, got {text!r}")
    return grid


def sweep_margins(ds: Dataset, protocol: str, runs: int, margins: tuple[float, ...], params: dict[str, Any],
                  train_fraction: float = 0.5, seed: int = 0, fixed: tuple[float, EvalResult] | None = None,
                  on_run: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """OCSDF's AUROC at each margin m (same seeds), and the paper's m selection: the best average over runs.

    That rule reads the test labels (an oracle); `fixed` = (m, result) already computed is reused, not rerun.
    """
    per_m: dict[str, dict[str, Any]] = {}
    total = runs * len(margins)
    for i, m in enumerate(margins):
        if fixed is not None and float(m) == float(fixed[0]):
            values = fixed[1].auroc["ocsdf"]
        else:
            tick = None if on_run is None else (lambda r, _n, done=i * runs: on_run(done + r, total))
            res = evaluate(ds, protocol, runs, (), (), {**params, "margin": m}, train_fraction, seed, on_run=tick)
            values = res.auroc["ocsdf"]
        per_m[f"{m:g}"] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "runs": values}
    best = max(per_m, key=lambda k: per_m[k]["mean"])
    return {"per_m": per_m, "best_m": float(best), "best_mean": per_m[best]["mean"],
            "rule": "best average AUROC over the runs (the paper's; uses the labels)"}
