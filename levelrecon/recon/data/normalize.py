"""Map a cloud into the unit cube the networks are initialised for, and back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Normalization:
    """x_normalized = (x - center) / scale, with max |coord| = 1 after the map (SAL/DiGS convention)."""

    center: tuple[float, float, float]
    scale: float

    @classmethod
    def fit(cls, points: np.ndarray, mode: str = "bbox") -> Normalization:
        """Centre on the bounding-box centre (`bbox`) or the mean (`mean`); scale to max |coord| = 1."""
        points = np.asarray(points, dtype=np.float64)
        if mode == "bbox":
            center = 0.5 * (points.min(axis=0) + points.max(axis=0))
        elif mode == "mean":
            center = points.mean(axis=0)
        else:
            raise ValueError(f"unknown normalization mode {mode!r}")
        scale = float(np.abs(points - center).max())
        if scale <= 0:
            raise ValueError("cannot normalize a cloud of identical points")
        return cls(tuple(float(c) for c in center), scale)

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - np.asarray(self.center)) / self.scale

    def invert(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) * self.scale + np.asarray(self.center)

    def to_dict(self) -> dict:
        return {"center": list(self.center), "scale": self.scale}

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        return cls(tuple(float(c) for c in d["center"]), float(d["scale"]))


def far_outlier_mask(points: np.ndarray, quantile: float = 0.005, margin: float = 1.0) -> np.ndarray:
    """True for points outside the robust box (the `quantile`…1−`quantile` range of each axis) enlarged
    by `margin` × its size on every side. A real surface never lies that far beyond 99 % of itself;
    stray returns, 1e30 sentinels and mis-registered fragments do."""
    lo, hi = np.quantile(points, [quantile, 1.0 - quantile], axis=0)
    size = np.maximum(hi - lo, 1e-12 * max(1.0, float(np.abs(hi).max())))
    return ((points < lo - margin * size) | (points > hi + margin * size)).any(axis=1)
