"""AUROC and the certified AUROC of a Lipschitz anomaly score (OCSDF paper, Prop. 1)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from levelrecon.errors import InputError


def auroc(y: np.ndarray, anomaly_score: np.ndarray) -> float:
    """Area under the ROC curve, y = 1 for anomalies, higher score = more anomalous."""
    y = np.asarray(y).ravel()
    if len(np.unique(y)) != 2:
        raise InputError("AUROC needs both normal and anomalous samples in the test set")
    return float(roc_auc_score(y, anomaly_score))


def certified_auroc(y: np.ndarray, anomaly_score: np.ndarray, eps: float, lipschitz: float) -> float:
    """The AUROC no l2 perturbation of radius `eps` of the inputs can push below.

    An L-Lipschitz score moves by at most eps·L: the worst case lowers every anomaly's score and raises
    every normal sample's score by that much, so the certified AUROC is the AUROC of the shifted scores
    (a pair counts only if it is ordered with a gap > 2·eps·L).
    """
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    y = np.asarray(y).ravel()
    shift = eps * lipschitz * np.where(y == 1, -1.0, 1.0)
    return auroc(y, np.asarray(anomaly_score, dtype=np.float64) + shift)
