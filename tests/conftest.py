"""Shared fixtures. Torch threads are limited so parallel CI jobs do not collapse (DESIGN §5)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from levelrecon.cli.main import cli  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))

DATA = Path(__file__).resolve().parent.parent / "data_samples"


def sphere_points(n: int, radius: float = 1.0, seed: int = 0, center=(0.0, 0.0, 0.0)) -> np.ndarray:
    """n points uniformly on a sphere (normalised Gaussian directions)."""
    v = np.random.default_rng(seed).normal(size=(n, 3))
    return radius * v / np.linalg.norm(v, axis=1, keepdims=True) + np.asarray(center)


@pytest.fixture
def sphere_cloud() -> np.ndarray:
    return sphere_points(2000, radius=0.8, seed=1, center=(0.2, -0.1, 0.3))


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Run in an empty working directory (runs/ lands there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path

def run(*args):
    """Invoke the CLI in-process (click's runner keeps stdout and stderr apart)."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result, *fragments) -> None:
    """Bad input: exit code 2 and exactly one stderr line holding every fragment."""
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    for frag in fragments:
        assert frag in lines[0]
