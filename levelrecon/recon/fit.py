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
import trimesh

from levelrecon import __version__
from levelrecon.device import resolve_device
from levelrecon.errors import InputError, printable, short_reason
from levelrecon.files import atomic_output
from levelrecon.recon import runs
from levelrecon.recon.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from levelrecon.recon.data.io import PointCloud, write_mesh
from levelrecon.recon.data.normalize import Normalization
from levelrecon.recon.methods.registry import Method, get_method
from levelrecon.recon.train import StepCallback, train

CHECKPOINT_SECONDS = 300.0  # the longest a kill can cost, besides every 10 % of the steps


@dataclass
class Trained:
    """What a fit leaves in memory, so the API meshes and queries it without reading the run back: the
    method (config, extras such as the mesh level), the network (None for a classical method, which has
    its `surface`), the normalization and the input points in original coordinates."""

    method: Method
    network: torch.nn.Module | None
    normalization: Normalization
    points: np.ndarray
    surface: trimesh.Trimesh | None = None


@dataclass
class FitResult:
    run_dir: Path
    method: str
    steps: int
    interrupted: bool
    seconds: float
    final_loss: float | None
    n_points: int | None = None  # points of the (cleaned) input
    trained: Trained | None = None  # the model in memory (fit_cloud; not after a resume)


def fit_cloud(cloud: PointCloud, source: Path, method_name: str, run_dir: Path | None, *, preset: str = "cpu",
              overrides: dict[str, Any] | None = None, device: str = "auto", force: bool = False,
              on_step: StepCallback | None = None, should_stop: Callable[[], bool] = lambda: False,
              checkpoint_every: int | None = None, extra_info: dict[str, Any] | None = None,
              runs_root: Path | None = None, stem: str = "cloud") -> FitResult:
    """Fit `cloud` with a method and write everything into `run_dir` (None: a new
    `runs_root/<stem>_<method>_<k>`); with `runs_root` a finished run is recorded as `runs_root/latest`.

    The run directory holds run.json (method, config, input, normalization, timing, status), input.npy
    (the validated input points, original coordinates; `extra_info` adds keys such as the cleaning
    counts), and either model.pt + train_log.csv + loss.png (neural methods) or surface.ply (classical
    baseline). Options are checked and the network built before the directory is created.
    """
    cls = get_method(method_name)
    cfg = cls.Config.from_preset(preset, **(overrides or {}))
    method = cls(cfg)
    dev = resolve_device(device)
    norm = Normalization.fit(cloud.points)
    points_n = norm.apply(cloud.points)
    method.configure(points_n)
    cfg = method.cfg
    # built before the run directory: an unusable size or activation writes nothing
    model = _fresh_model(method, dev) if cls.neural else None
    if run_dir is not None:
        run = runs.RunDir.create(run_dir, force)
    else:
        run = runs.RunDir(runs.new_run_dir(stem, method_name, runs_root or runs.RUNS_ROOT))
    return _written(run, runs_root, lambda: _fit_into(run.work, cloud, source, method_name, preset, method, model,
                                                      norm, points_n, dev, on_step, should_stop, checkpoint_every,
                                                      extra_info))


def _written(run: runs.RunDir, runs_root: Path | None, body: Callable[[], FitResult]) -> FitResult:
    """Run `body` (which writes `run.work`) under the run's lock: a failure marks the run failed (or drops
    a replacement, keeping the old run); success puts it in place and, when done, records it as latest."""
    run.lock()
    try:
        result = body()
    except KeyboardInterrupt:
        run.abandon("interrupted")
        raise
    except BaseException as exc:
        run.abandon("failed", printable(short_reason(exc)))
        raise
    run.commit()
    if runs_root is not None and not result.interrupted:
        run.record_latest(runs_root)
    run.release()
    result.run_dir = run.path
    return result


def _fit_into(run_dir: Path, cloud: PointCloud, source: Path, method_name: str, preset: str, method: Method,
              model: torch.nn.Module | None, norm: Normalization, points_n: np.ndarray, dev: torch.device,
              on_step: StepCallback | None, should_stop: Callable[[], bool], checkpoint_every: int | None,
              extra_info: dict[str, Any] | None) -> FitResult:
    """The writing part of `fit_cloud`: input, run.json, then training (or the classical method)."""
    cls, cfg = type(method), method.cfg
    with atomic_output(run_dir / runs.INPUT, force=True) as tmp:
        np.save(tmp, cloud.points)
    if cloud.normals is not None:  # kept for --resume
        with atomic_output(run_dir / runs.INPUT_NORMALS, force=True) as tmp:
            np.save(tmp, cloud.normals)
    info: dict[str, Any] = {
        "levelrecon": __version__,
        "method": method_name,
        "preset": preset,
        "config": cfg.to_dict(),
        "input": str(source.resolve()) if source.exists() else str(source),  # a file, or "points" (API)
        "n_points": int(len(cloud.points)),
        "trained_on": int(min(len(cloud.points), getattr(cfg, "max_points", 0) or len(cloud.points))),
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
        return FitResult(run_dir, method_name, 0, False, seconds, None, len(cloud.points),
                         Trained(method, None, norm, cloud.points, mesh))

    generator = torch.Generator(device=dev).manual_seed(cfg.seed)
    method.setup(*training_subset(points_n, cloud.normals, cfg), dev, generator)
    result = _train_run(method, model, norm, generator, run_dir, info, source.name, t0, on_step, should_stop,
                        checkpoint_every)
    result.trained = Trained(method, model, norm, cloud.points)
    return result


def training_subset(points: np.ndarray, normals: np.ndarray | None, cfg: Any
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """The points a neural method trains on: all of them, or a seeded random `max_points` subset of a
    larger cloud, so setup (normals, scales, pools) and per-step costs stay bounded on million-point
    scans; the run keeps every point for evaluation."""
    limit = int(getattr(cfg, "max_points", 0) or 0)
    if not limit or len(points) <= limit:
        return points, normals
    idx = np.sort(np.random.default_rng(cfg.seed).choice(len(points), limit, replace=False))
    return points[idx], None if normals is None else normals[idx]


def resume_fit(run_dir: Path, device: str = "auto", on_step: StepCallback | None = None,
               should_stop: Callable[[], bool] = lambda: False, checkpoint_every: int | None = None,
               runs_root: Path | None = None) -> FitResult:
    """Continue an interrupted or killed run from its last checkpoint.

    The checkpoint holds the optimizer, the random generator, the loss history and the method's own
    state (e.g. re-oriented normals), so on CPU the result equals an uninterrupted run of the same seed.
    """
    run = runs.RunDir(run_dir)
    info = runs.read_run_info(run_dir)
    run.check_not_busy()  # refused at once if the run is still training elsewhere
    ckpt_path = run_dir / runs.CHECKPOINT
    if not ckpt_path.is_file():  # stopped before its first checkpoint: train again from step 0, same seed
        if info.get("status") == "done" or not (run_dir / runs.INPUT).is_file():
            raise InputError(f"{run_dir}: no checkpoint to resume from (status: {info.get('status', '?')})")
        return _written(run, runs_root, lambda: _restart_into(run_dir, info, resolve_device(device), on_step,
                                                              should_stop, checkpoint_every))
    ckpt = load_checkpoint(ckpt_path)
    if ckpt.training is None:
        raise InputError(f"{run_dir}: the run finished ({ckpt.step} steps); nothing to resume")
    dev = resolve_device(device)
    return _written(run, runs_root, lambda: _resume_into(run_dir, info, ckpt, dev, on_step, should_stop,
                                                         checkpoint_every))


def _restart_into(run_dir: Path, info: dict[str, Any], dev: torch.device, on_step: StepCallback | None,
                  should_stop: Callable[[], bool], checkpoint_every: int | None) -> FitResult:
    """Train a run that has its input and run.json but no checkpoint from the start, as `fit_cloud` would."""
    try:
        cls = get_method(info["method"])
        method = cls(cls.Config(**cls.Config.check_options(info["config"])))
        norm = Normalization.from_dict(info["normalization"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{run_dir}: run.json cannot restart the run ({short_reason(exc)})") from None
    model = _fresh_model(method, dev)
    points = np.load(run_dir / runs.INPUT)
    normals_path = run_dir / runs.INPUT_NORMALS
    normals = np.load(normals_path) if normals_path.is_file() else None
    generator = torch.Generator(device=dev).manual_seed(method.cfg.seed)
    method.setup(*training_subset(norm.apply(points), normals, method.cfg), dev, generator)
    info = {**info, "status": "running", "resumed_from_step": 0, "device": str(dev)}
    runs.write_run_info(run_dir, info)
    return _train_run(method, model, norm, generator, run_dir, info, Path(info["input"]).name, time.perf_counter(),
                      on_step, should_stop, checkpoint_every)


def _fresh_model(method: Method, dev: torch.device) -> torch.nn.Module:
    """The method's untrained network, seeded: the same initial weights for a fit and its restart."""
    torch.manual_seed(method.cfg.seed)
    np.random.seed(method.cfg.seed)
    try:
        return method.build_model().to(dev)
    except ValueError as exc:
        raise InputError(f"{type(method).__name__}: {short_reason(exc)}") from None


def _resume_into(run_dir: Path, info: dict[str, Any], ckpt: Checkpoint, dev: torch.device,
                 on_step: StepCallback | None, should_stop: Callable[[], bool], checkpoint_every: int | None
                 ) -> FitResult:
    method, model = ckpt.build(dev)
    model.train()
    points = np.load(run_dir / runs.INPUT)
    normals_path = run_dir / runs.INPUT_NORMALS
    normals = np.load(normals_path) if normals_path.is_file() else None
    generator = torch.Generator(device=dev).manual_seed(method.cfg.seed)
    method.setup(*training_subset(ckpt.normalization.apply(points), normals, method.cfg), dev, generator)
    method.load_state(ckpt.training["method_state"])
    generator.set_state(ckpt.training["generator"])
    info = {**info, "status": "running", "resumed_from_step": ckpt.step, "device": str(dev)}
    runs.write_run_info(run_dir, info)
    return _train_run(method, model, ckpt.normalization, generator, run_dir, info, Path(info["input"]).name,
                      time.perf_counter() - float(info.get("seconds") or 0.0), on_step, should_stop,
                      checkpoint_every, resume=ckpt.training, start_step=ckpt.step)


def _train_run(method: Method, model: torch.nn.Module, norm: Normalization, generator: torch.Generator,
               run_dir: Path, info: dict[str, Any], source_name: str, t0: float,
               on_step: StepCallback | None, should_stop: Callable[[], bool], checkpoint_every: int | None,
               resume: dict[str, Any] | None = None, start_step: int = 0) -> FitResult:
    """Train, checkpointing with everything a resume needs, then write the log, plot and run.json."""
    cfg = method.cfg
    ckpt_path = run_dir / runs.CHECKPOINT

    def checkpoint(step: int, opt: torch.optim.Optimizer | None, history: list[dict[str, float]]) -> None:
        training = None if opt is None else {
            "optimizer": opt.state_dict(), "generator": generator.get_state(), "history": history,
            "method_state": method.state()}
        save_checkpoint(ckpt_path, method, model, norm, step, training=training)

    every = checkpoint_every if checkpoint_every is not None else max(100, cfg.iters // 10)
    first = max(1, cfg.iters // 100)  # early, so a run killed in its first minutes is resumable
    last = {"time": time.monotonic()}

    def scheduled(step: int, opt: torch.optim.Optimizer, history: list[dict[str, float]]) -> None:
        """Every `every` steps, at 1 % of training, and at least every CHECKPOINT_SECONDS (--iters 1e9)."""
        if step % every == 0 or step == first or time.monotonic() - last["time"] > CHECKPOINT_SECONDS:
            checkpoint(step, opt, history)
            last["time"] = time.monotonic()

    result = train(method, model, on_step=on_step, should_stop=should_stop, checkpoint=scheduled,
                   checkpoint_every=1, start_step=start_step, resume=resume)
    method.finish(model)
    checkpoint(result.steps, result.optimizer if result.interrupted else None, result.history)
    _write_log(run_dir / runs.LOG, result.history)
    if result.history:
        from levelrecon.recon.plots import plot_loss

        plot_loss(result.history, run_dir / runs.LOSS_PLOT, title=printable(f"{info['method']} on {source_name}"))
    final = result.history[-1]["loss"] if result.history else None
    seconds = time.perf_counter() - t0
    runs.write_run_info(run_dir, {
        **info, "status": "interrupted" if result.interrupted else "done", "steps": result.steps,
        "seconds": round(seconds, 3), "final_loss": final, "extra": method.extra,
    })
    return FitResult(run_dir, info["method"], result.steps, result.interrupted, seconds, final, info.get("n_points"))


def _write_log(path: Path, history: list[dict[str, float]]) -> None:
    if not history:
        return
    keys = list(history[0])
    with atomic_output(path, force=True) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)
