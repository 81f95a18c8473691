"""The commands through click's test runner: the documented flow, exit codes, no clobbering."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from conftest import DATA, one_line_error, run, sphere_points

from levelrecon.cli.main import COMMANDS
from levelrecon.recon.data.io import write_points

TINY = ["--iters", "40", "--batch", "1024", "--width", "32", "--depth", "2"]



@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help_with_examples(name):
    result = run(name, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output


def test_fit_mesh_eval_flow_on_latest_run(in_tmp, sphere_cloud):
    write_points(sphere_cloud, "ball.ply")
    r = run("fit", "ball.ply", *TINY)
    assert r.exit_code == 0, r.output
    run_dir = in_tmp / "runs" / "ball_levelset_1"
    for name in ("model.pt", "run.json", "train_log.csv", "loss.png", "input.npy"):
        assert (run_dir / name).is_file(), name
    assert "fit levelset: 40/40" in r.stderr  # 2,000 points: auto picks levelset; plain progress lines without a TTY
    r = run("mesh", "--resolution", "32")
    assert r.exit_code == 0, r.output
    assert (run_dir / "mesh.ply").is_file()
    r = run("eval", "--chamfer", "--json", "-")
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.stdout)
    assert metrics["n_ref"] == len(sphere_cloud) and metrics["ref_kind"] == "input points"
    assert np.isfinite(metrics["chamfer_l1"])
    # a second fit gets a new directory; mesh again refuses to overwrite without --force
    assert run("fit", "ball.ply", *TINY, "--quiet").exit_code == 0
    assert (in_tmp / "runs" / "ball_levelset_2" / "model.pt").is_file()
    one_line_error(run("mesh", "runs/ball_levelset_1", "--resolution", "16"), "mesh.ply", "--force")
    assert run("mesh", "runs/ball_levelset_1", "--resolution", "16", "--force").exit_code == 0


def test_poisson_runs_through_the_same_flow(in_tmp, sphere_cloud):
    write_points(sphere_cloud, "ball.xyz")
    assert run("fit", "ball.xyz", "--method", "poisson", "-o", "p").exit_code == 0
    assert run("mesh", "p", "-o", "p.obj").exit_code == 0
    r = run("eval", "p", "--json", "-")
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.stdout)
    assert metrics["chamfer_l1_rel"] < 0.01
    assert metrics["tau"] == pytest.approx(0.01 * metrics["diagonal"])
    absolute = json.loads(run("eval", "p", "--fscore", "0.05", "--json", "-").stdout)
    assert absolute["tau"] == 0.05
    percent = json.loads(run("eval", "p", "--fscore", "2%", "--json", "-").stdout)
    assert percent["tau"] == pytest.approx(0.02 * metrics["diagonal"])
    assert percent["fscore"] >= metrics["fscore"]  # a looser threshold never lowers the F-score
    one_line_error(run("eval", "p", "--fscore", "0"), "--fscore")
    one_line_error(run("eval", "p", "--fscore", "abc%"), "--fscore")
    one_line_error(run("eval", "p", "--no-such-option"), "No such option", "--help")
    one_line_error(run("mesh", "--resolution", "2"), "--resolution")
    r = run("eval", "p", "--fscore", "1%")
    assert "F-score @" in r.stdout and "│ Chamfer-L1" not in r.stdout  # only the asked metric is tabled


def test_run_dir_not_overwritten(in_tmp, sphere_cloud):
    write_points(sphere_cloud, "ball.npy")
    assert run("fit", "ball.npy", "-o", "r", *TINY, "-q").exit_code == 0
    stamp = (in_tmp / "r" / "model.pt").read_bytes()
    one_line_error(run("fit", "ball.npy", "-o", "r", *TINY), "r", "--force")
    assert (in_tmp / "r" / "model.pt").read_bytes() == stamp
    assert run("fit", "ball.npy", "-o", "r", *TINY, "-q", "--force", "--seed", "5").exit_code == 0


@pytest.mark.parametrize("content,fragment", [
    (None, "does not exist"),
    (b"", "empty"),
    (b"ply\nformat binary_little_endian 1.0\nelement vertex 100\nproperty float x\nproperty float y\n"
     b"property float z\nend_header\n" + b"\x00" * 50, "not a readable PLY"),
])
def test_bad_cloud_exit_2_and_no_run_dir(in_tmp, content, fragment):
    if content is not None:
        (in_tmp / "bad.ply").write_bytes(content)
    one_line_error(run("fit", "bad.ply"), "bad.ply", fragment)
    assert not (in_tmp / "runs").exists()


def test_unknown_format_and_bad_options(in_tmp):
    (in_tmp / "c.vtk").write_text("x")
    one_line_error(run("fit", "c.vtk"), "c.vtk", "unknown format")
    np.save(in_tmp / "ok.npy", sphere_points(100))
    one_line_error(run("fit", "ok.npy", "--set", "nonsense=1"), "nonsense")
    one_line_error(run("fit", "ok.npy", "--method", "poisson", "--width", "8"), "width")


def test_mesh_and_eval_without_runs(in_tmp):
    one_line_error(run("mesh"), "no run found")
    one_line_error(run("eval"), "no run found")


def test_sample_and_info(in_tmp):
    r = run("sample", DATA / "bunny_closed_3k.off", "-n", "500", "--noise", "0.001", "--normals", "-o", "b.ply")
    assert r.exit_code == 0, r.output
    r = run("info", "b.ply", "--json")
    info = json.loads(r.stdout)
    assert info["vertices"] == 500 and info["normals"] is True and info["kind"] == "point cloud"
    info = json.loads(run("info", DATA / "bunny_closed_3k.off", "--json").stdout)
    assert info["kind"] == "mesh" and info["watertight"] is True and info["faces"] == 6966
    one_line_error(run("sample", "b.ply", "-n", "10", "-o", "c.ply"), "b.ply", "no triangles")


def test_checkpoint_is_loaded_safely(in_tmp):
    """A checkpoint that would run code when unpickled is refused, not executed."""

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open("model.pt", "wb") as fh:
        pickle.dump({"format": "levelrecon-checkpoint", "x": Evil()}, fh)
    r = run("info", "model.pt")
    one_line_error(r, "model.pt", "not a readable levelrecon checkpoint")
    assert "pwned" not in r.output
    torch.save({"format": "something-else"}, "other.pt")
    one_line_error(run("info", "other.pt"), "not a levelrecon checkpoint")


def test_ctrl_c_stops_cleanly_and_keeps_the_checkpoint(in_tmp, sphere_cloud):
    """A real SIGINT to a running `levelrecon fit`: exit 130, a loadable checkpoint, status interrupted."""
    import signal
    import subprocess
    import sys
    import time

    from levelrecon.recon.checkpoint import load_checkpoint

    write_points(sphere_cloud, "ball.ply")
    proc = subprocess.Popen([sys.executable, "-m", "levelrecon", "fit", "ball.ply", "-o", "r", "--iters", "5000",
                             "--batch", "256", "--width", "16", "--depth", "2"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and "fit levelset:" not in (line := proc.stderr.readline()):
        pass
    assert "fit levelset:" in line, "no progress line before the deadline"
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, rest
    assert "interrupted, checkpoint kept" in rest
    ckpt = load_checkpoint(in_tmp / "r" / "model.pt")
    assert 0 < ckpt.step < 5000
    assert json.loads((in_tmp / "r" / "run.json").read_text())["status"] == "interrupted"


def test_surface_samples_of_a_mesh_input(in_tmp):
    r = run("fit", DATA / "bunny_closed_3k.off", "--surface-samples", "500", *TINY, "-q", "-o", "s")
    assert r.exit_code == 0, r.output
    assert json.loads((in_tmp / "s" / "run.json").read_text())["n_points"] == 500
    one_line_error(run("fit", DATA / "bunny_20k.ply", "--surface-samples", "500", *TINY, "-o", "t"),
                   "bunny_20k.ply", "needs a mesh input")
    assert not (in_tmp / "t").exists()


@pytest.mark.parametrize("args,fragment", [
    (["--set", "lr=abc"], "lr='abc': expected a number"),
    (["--set", "width=0"], "width=0: must be ≥ 1"),
    (["--set", "max_points=-1"], "max_points=-1: must be ≥ 0"),
    (["--set", "lr_schedule=bogus"], "lr_schedule='bogus': choose from cosine, step, constant"),
    (["--set", "activation=bogus"], "activation='bogus': choose from softplus, relu"),
    (["--set", "iters=-5"], "iters=-5: must be ≥ 1"),
    (["--set", "iters=0"], "iters=0: must be ≥ 1"),
    (["--iters", "0"], "iters=0: must be ≥ 1"),
    (["--lr", "-1"], "lr=-1.0: must be > 0"),
    (["--set", "batch=0"], "batch=0: must be ≥ 1"),
    (["--method", "ocsdf", "--set", "activation=relu"], "choose from groupsort2, fullsort"),
    (["--method", "ocsdf", "--width", "5"], "width must be even"),
    (["--method", "igr", "--set", "surface_weight=abc"], "surface_weight='abc': a number or auto"),
    (["--method", "igr", "--set", "normal_weight=-1"], "normal_weight=-1.0: must be ≥ 0"),
])
def test_options_are_checked_before_anything_is_written(in_tmp, args, fragment):
    """A flag or --set value of the wrong type or out of range: one line, exit 2, no run directory."""
    np.save(in_tmp / "ok.npy", sphere_points(100))
    one_line_error(run("fit", "ok.npy", *args, "-o", "r"), fragment)
    assert not (in_tmp / "r").exists() and not (in_tmp / "runs").exists()


def test_api_and_batch_check_options_the_same_way(in_tmp):
    import levelrecon

    with pytest.raises(levelrecon.InputError, match="iters=0: must be ≥ 1"):
        levelrecon.fit("does-not-exist.ply", iters=0)  # checked before the input is even read
    with pytest.raises(levelrecon.InputError, match="grid_lr=nan: must be a finite number"):
        levelrecon.fit(sphere_points(100), method="igr", grid_lr=float("nan"))
    np.save(in_tmp / "ok.npy", sphere_points(100))
    one_line_error(run("batch", "ok.npy", "-o", "out", "--set", "batch=0"), "batch=0: must be ≥ 1")
    assert not (in_tmp / "out").exists()


def test_outputs_are_checked_before_the_slow_work(in_tmp):
    """An existing --json file or an unknown mesh extension is refused before training or meshing starts
    (a run without a checkpoint would fail differently if meshing were attempted)."""
    np.save(in_tmp / "ok.npy", sphere_points(100))
    (in_tmp / "summary.json").write_text("{}")
    one_line_error(run("fit", "ok.npy", "-o", "r", "--iters", "5", "--json", "summary.json"), "summary.json", "exists")
    assert not (in_tmp / "r").exists() and (in_tmp / "summary.json").read_text() == "{}"
    (in_tmp / "pending").mkdir()
    (in_tmp / "pending" / "run.json").write_text(json.dumps({"method": "igr", "status": "running"}))
    one_line_error(run("mesh", "pending", "-o", "out.xyz"), "out.xyz", "unknown mesh format")
    one_line_error(run("fit", "--resume", "pending", "--json", "summary.json"), "summary.json", "exists")


@pytest.mark.parametrize("damage,fragment", [
    (lambda d: d.pop("normalization"), "no valid normalization"),
    (lambda d: d["normalization"].update(scale=0.0), "no valid normalization"),
    (lambda d: d["config"].update(bogus_key=1), "bogus_key"),
    (lambda d: d.update(state_dict={}), "weights do not fit"),
    (lambda d: d.update(method="nope"), "unknown method"),
])
def test_damaged_checkpoint_is_one_line_exit_2(in_tmp, damage, fragment):
    """A checkpoint that loads safely but lacks or garbles a part: one line naming it, exit 2, for every
    command that reads it."""
    np.save(in_tmp / "ok.npy", sphere_points(200))
    assert run("fit", "ok.npy", "--iters", "2", "--width", "8", "--depth", "1", "-o", "r", "-q").exit_code == 0
    data = torch.load(in_tmp / "r" / "model.pt", weights_only=True)
    damage(data)
    torch.save(data, in_tmp / "bad.pt")
    one_line_error(run("mesh", "bad.pt", "-o", "m.ply", "--resolution", "16"), "bad.pt", fragment)
    one_line_error(run("info", "bad.pt"), "bad.pt", fragment)
    assert not (in_tmp / "m.ply").exists()


@pytest.mark.parametrize("scale_half,fragment", [
    (None, "200 of 200 points have coordinates beyond ±1e+15 (largest 9.98e+159)"),
    (1e30, "100 of 200 points have coordinates beyond ±1e+15 (largest 1e+30)"),
])
def test_huge_coordinates_are_one_line_exit_2(in_tmp, scale_half, fragment):
    """A cloud at 1e160 (squares overflow) or half of it at a 1e30 sentinel (too many to drop as outliers)."""
    points = sphere_points(200)
    if scale_half is None:
        points *= 1e160
    else:
        points[::2] = scale_half
    np.save(in_tmp / "huge.npy", points)
    one_line_error(run("fit", "huge.npy", "-o", "r", "--iters", "2"), "huge.npy", fragment)
    assert not (in_tmp / "r").exists()


def test_qhull_messages_stay_off_stderr_under_quiet(in_tmp):
    """Two exactly cospherical rings: Open3D's normal orientation (Qhull) rejects them and the retry on a
    jittered copy succeeds; Qhull's C-level warning must not reach stderr (a real process: it writes to fd 2)."""
    import subprocess
    import sys

    t = np.linspace(0, 6.28, 40, endpoint=False)
    rings = np.vstack([np.c_[np.cos(t), np.sin(t), 0 * t], np.c_[np.cos(t), 0 * t, np.sin(t)]])
    np.savetxt(in_tmp / "rings.xyz", rings)
    proc = subprocess.run([sys.executable, "-m", "levelrecon", "fit", "rings.xyz", "--method", "igr", "--iters", "2",
                           "-o", "r", "-q"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
