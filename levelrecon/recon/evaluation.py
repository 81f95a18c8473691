"""Resolve what `eval` compares (a reconstruction and a reference) and compute the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from levelrecon.errors import InputError
from levelrecon.recon import runs
from levelrecon.recon.data.io import load_points, load_polyline
from levelrecon.recon.meshing.curves import sample_polyline
from levelrecon.recon.metrics import Distance, SurfaceSamples, compare


@dataclass
class EvalInputs:
    recon_path: Path
    ref_label: str
    recon: SurfaceSamples
    ref: SurfaceSamples


def _as_samples(path: Path, n: int, seed: int) -> SurfaceSamples:
    """A mesh becomes n area-uniform samples (keeping its triangles), a polyline n length-uniform samples;
    a cloud is used as is."""
    curve = load_polyline(path) if path.is_file() else None
    if curve is not None:
        return SurfaceSamples(sample_polyline(*curve, n, seed), None, "curve samples")
    cloud = load_points(path)
    if cloud.is_mesh:
        return SurfaceSamples.from_mesh(cloud.as_mesh(), n, seed)
    return SurfaceSamples(cloud.points, cloud.normals, "points")


def resolve_inputs(target: Path | None, gt: Path | None, n_samples: int, seed: int) -> EvalInputs:
    """The reconstruction (a mesh file, or the mesh of a run) and the reference (--gt, or the run's input)."""
    run_dir: Path | None = None
    if target is None or target.is_dir():
        run_dir = runs.resolve_run(target)
        info = runs.read_run_info(run_dir)
        mesh_path = Path(info.get("mesh", run_dir / runs.MESH))
        if not mesh_path.is_file():
            raise InputError(f"{run_dir}: no mesh yet; run `levelrecon mesh {run_dir}` first")
    else:
        mesh_path = target
        if runs.is_run_dir(target.parent):
            run_dir = target.parent
    recon = _as_samples(mesh_path, n_samples, seed)
    if recon.kind == "points":
        raise InputError(f"{mesh_path}: the reconstruction must be a mesh with faces or a polyline")
    if gt is not None:
        ref = _as_samples(gt, n_samples, seed + 1)
        label = str(gt)
    else:
        if run_dir is None or not (run_dir / runs.INPUT).is_file():
            raise InputError(f"{mesh_path}: not inside a run directory; pass the reference with --gt")
        ref = SurfaceSamples(np.load(run_dir / runs.INPUT), None, "input points")
        label = f"input cloud of {run_dir}"
    return EvalInputs(mesh_path, label, recon, ref)


def evaluate(target: Path | None, gt: Path | None, n_samples: int = 30000, seed: int = 0,
             tau: float | None = None, tau_fraction: float = 0.01, distance: Distance = "auto") -> dict:
    """Metrics of a reconstruction against its reference; `distance` as in `metrics.compare`."""
    inputs = resolve_inputs(target, gt, n_samples, seed)
    metrics = compare(inputs.recon, inputs.ref, tau=tau, tau_fraction=tau_fraction, distance=distance)
    return {"reconstruction": str(inputs.recon_path), "reference": inputs.ref_label, **metrics}
