"""The `fit` pipeline: read, normalize, train (or run the classical baseline), write a run directory."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from levelrecon import __version__
from levelrecon.errors import InputError
from levelrecon.recon import runs
from levelrecon.recon.checkpoint import save_checkpoint
from levelrecon.recon.io import PointCloud, atomic_output, write_mesh
from levelrecon.recon.methods import get_method
from levelrecon.recon.normalize import Normalization
from levelrecon.recon.train import StepCallback, train


@dataclass
class FitResult:
    run_dir: Path
    method: str
    steps: int
    interrupted: bool
    seconds: float
    final_loss: float | None


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available (is the CUDA build of torch installed?)")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise InputError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


def fit_cloud(cloud: PointCloud, source: Path, method_name: str, run_dir: Path, *, preset: str = "cpu",
              overrides: dict[str, Any] | None = None, device: str = "auto", force: bool = False,
              on_step: StepCallback | None = None, should_stop: Callable[[], bool] = lambda: False,
              checkpoint_every: int | None = None, extra_info: dict[str, Any] | None = None) -> FitResult:
    """Fit `cloud` with a method and write everything into `run_dir`.

    The run directory holds run.json (method, config, input, normalization, timing), input.npy (the
    validated input points, original coordinates; `extra_info` adds keys such as the cleaning counts),
    and either model.pt + train_log.csv + loss.png
    (neural methods) or surface.ply (classical baseline).
    """
    cls = get_method(method_name)
    cfg = cls.Config.from_preset(preset, **(overrides or {}))
    method = cls(cfg)
    dev = resolve_device(device)
    norm = Normalization.fit(cloud.points)
    points_n = norm.apply(cloud.points)
    method.configure(points_n)
    cfg = method.cfg
    runs.prepare_run_dir(run_dir, force)
    with atomic_output(run_dir / runs.INPUT, force=True) as tmp:
        np.save(tmp, cloud.points)
    info: dict[str, Any] = {
        "levelrecon": __version__,
        "method": method_name,
        "preset": preset,
        "config": cfg.to_dict(),
        "input": str(source.resolve()),
        "n_points": int(len(cloud.points)),
        "has_normals": cloud.normals is not None,
        "normalization": norm.to_dict(),
        "device": str(dev),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "status": "running",
        **(extra_info or {}),
    }
    runs.write_run_info(run_dir, info)
    t0 = time.perf_counter()

    if not cls.neural:
        mesh = method.reconstruct(points_n, cloud.normals)
        mesh.vertices = norm.invert(mesh.vertices)
        write_mesh(mesh, run_dir / runs.SURFACE, force=True)
        seconds = time.perf_counter() - t0
        runs.write_run_info(run_dir, {**info, "status": "done", "seconds": round(seconds, 3)})
        return FitResult(run_dir, method_name, 0, False, seconds, None)

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    generator = torch.Generator(device=dev).manual_seed(cfg.seed)
    model = method.build_model().to(dev)
    method.setup(points_n, cloud.normals, dev, generator)
    ckpt_path = run_dir / runs.CHECKPOINT

    def checkpoint(step: int) -> None:
        save_checkpoint(ckpt_path, method, model, norm, step)

    every = checkpoint_every if checkpoint_every is not None else max(100, cfg.iters // 10)
    result = train(method, model, on_step=on_step, should_stop=should_stop, checkpoint=checkpoint,
                   checkpoint_every=every)
    method.finish(model)
    checkpoint(result.steps)
    _write_log(run_dir / runs.LOG, result.history)
    if result.history:
        from levelrecon.recon.plots import plot_loss

        plot_loss(result.history, run_dir / runs.LOSS_PLOT, title=f"{method_name} on {source.name}")
    final = result.history[-1]["loss"] if result.history else None
    runs.write_run_info(run_dir, {
        **info, "status": "interrupted" if result.interrupted else "done", "steps": result.steps,
        "seconds": round(time.perf_counter() - t0, 3), "final_loss": final, "extra": method.extra,
    })
    return FitResult(run_dir, method_name, result.steps, result.interrupted, time.perf_counter() - t0, final)


def _write_log(path: Path, history: list[dict[str, float]]) -> None:
    if not history:
        return
    keys = list(history[0])
    with atomic_output(path, force=True) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)
