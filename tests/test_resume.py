"""Long runs survive faults: `fit --resume` continues from the last checkpoint with the same result."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from conftest import one_line_error, run, sphere_points

from levelrecon.recon.checkpoint import load_checkpoint
from levelrecon.recon.data.io import PointCloud, write_points
from levelrecon.recon.fit import fit_cloud, resume_fit

# A grid IGR run small enough for a test, with the re-orientation (step 12) before the interruption (17).
SMALL = {"iters": 40, "batch": 256, "pool_batch": 512, "pool_size": 4, "seed": 3}


def _cloud() -> PointCloud:
    return PointCloud(sphere_points(1200, 0.6, seed=5, center=(0.1, 0.2, -0.3)))


def test_resume_equals_an_uninterrupted_run(tmp_path):
    fit_cloud(_cloud(), Path("s.xyz"), "igr", tmp_path / "whole", overrides=SMALL, device="cpu",
              checkpoint_every=10)
    steps = {"n": 0}

    def count(step, total, logs):
        steps["n"] = step

    part = fit_cloud(_cloud(), Path("s.xyz"), "igr", tmp_path / "part", overrides=SMALL, device="cpu",
                     checkpoint_every=10, on_step=count, should_stop=lambda: steps["n"] >= 17)
    assert part.interrupted and part.steps == 17
    assert load_checkpoint(tmp_path / "part" / "model.pt").training is not None
    done = resume_fit(tmp_path / "part", device="cpu", checkpoint_every=10)
    assert done.steps == 40 and not done.interrupted
    a = load_checkpoint(tmp_path / "whole" / "model.pt")
    b = load_checkpoint(tmp_path / "part" / "model.pt")
    assert b.training is None  # a finished run keeps no optimizer state
    for key, value in a.state_dict.items():
        assert torch.equal(value, b.state_dict[key]), key
    log_a = (tmp_path / "whole" / "train_log.csv").read_text().splitlines()
    log_b = (tmp_path / "part" / "train_log.csv").read_text().splitlines()
    assert len(log_a) == len(log_b) == 41
    info = json.loads((tmp_path / "part" / "run.json").read_text())
    assert info["status"] == "done" and info["resumed_from_step"] == 17
    one_line_error(run("fit", "--resume", tmp_path / "part"), "nothing to resume")


def test_kill_9_loses_only_the_steps_since_the_checkpoint(in_tmp):
    """A real SIGKILL during training: the checkpoint on disk loads, and --resume finishes the run."""
    write_points(sphere_points(800, 0.6, seed=1), "ball.xyz")
    cmd = [sys.executable, "-m", "levelrecon", "fit", "ball.xyz", "--method", "igr", "-o", "r", "--iters", "3000",
           "--batch", "128",
           "--set", "pool_batch=256", "--set", "pool_size=2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    ckpt = in_tmp / "r" / "model.pt"
    while time.time() < deadline and not ckpt.is_file():
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert ckpt.is_file(), "no checkpoint before the deadline"
    saved = load_checkpoint(ckpt)  # never a torn file: writes go to a temporary file renamed into place
    assert (saved.step % 300 == 0 or saved.step == 30) and saved.step < 3000 and saved.training is not None
    r = run("fit", "--resume", "r", "-q")
    assert r.exit_code == 0, r.output
    assert load_checkpoint(ckpt).step == 3000
    assert json.loads((in_tmp / "r" / "run.json").read_text())["status"] == "done"


def test_resume_needs_a_run_and_no_cloud(in_tmp):
    write_points(sphere_points(100, 0.6, seed=1), "ball.xyz")
    one_line_error(run("fit", "ball.xyz", "--resume", "r"), "give no CLOUDS")
    one_line_error(run("fit"), "--resume RUN_DIR")
    assert not Path("r").exists()


def _fit_process(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "levelrecon", "fit", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def test_sigterm_is_handled_like_ctrl_c_and_checkpoints_early(in_tmp):
    """`kill PID` (SIGTERM) during training: the checkpoint of the current step, status interrupted, exit
    143. The first checkpoint comes at 1 % of the steps, long before the first 10 %."""
    write_points(sphere_points(300, 0.6, seed=1), "ball.xyz")
    proc = _fit_process("ball.xyz", "-o", "r", "--iters", "200000", "--width", "8", "--depth", "1", "--batch", "64")
    ckpt = in_tmp / "r" / "model.pt"
    deadline = time.time() + 180
    while time.time() < deadline and not ckpt.is_file():
        time.sleep(0.2)
    assert ckpt.is_file(), "no early checkpoint before the deadline"
    assert load_checkpoint(ckpt).step == 2000  # 1 % of the steps
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143, err
    saved = load_checkpoint(ckpt)
    assert 2000 <= saved.step < 20000 and saved.training is not None
    assert json.loads((in_tmp / "r" / "run.json").read_text())["status"] == "interrupted"


def test_an_early_ctrl_c_is_not_swallowed(in_tmp):
    """Ctrl-C while the command is still importing its libraries stops the fit at its first step (exit 130,
    resumable) instead of being lost inside an import and training to the end."""
    write_points(sphere_points(300, 0.6, seed=1), "ball.xyz")
    for delay in (0.5, 1.0, 2.0):
        proc = _fit_process("ball.xyz", "-o", f"r{delay}", "--iters", "200000", "--width", "8", "--depth", "1")
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        try:
            err = proc.communicate(timeout=90)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"Ctrl-C after {delay} s was swallowed: the fit kept training") from None
        assert proc.returncode == 130, err
        run_dir = in_tmp / f"r{delay}"
        if (run_dir / "run.json").is_file():  # the signal came after the run was created
            assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"


def test_a_run_killed_before_its_first_checkpoint_restarts(in_tmp):
    """No model.pt yet (killed in the first 1 %): --resume trains from step 0 with the run's own config."""
    write_points(sphere_points(300, 0.6, seed=1), "ball.xyz")
    assert run("fit", "ball.xyz", "-o", "whole", "--iters", "30", "--width", "8", "--depth", "1", "-q").exit_code == 0
    assert run("fit", "ball.xyz", "-o", "r", "--iters", "30", "--width", "8", "--depth", "1", "-q").exit_code == 0
    (in_tmp / "r" / "model.pt").unlink()
    info = json.loads((in_tmp / "r" / "run.json").read_text())
    (in_tmp / "r" / "run.json").write_text(json.dumps({**info, "status": "running"}))  # as a kill -9 leaves it
    r = run("fit", "--resume", "r", "-q")
    assert r.exit_code == 0, r.output
    a, b = load_checkpoint(in_tmp / "whole" / "model.pt"), load_checkpoint(in_tmp / "r" / "model.pt")
    assert b.step == 30
    for key, value in a.state_dict.items():
        assert torch.equal(value, b.state_dict[key]), key
