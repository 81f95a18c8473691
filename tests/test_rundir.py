"""The run directory as one object: atomic names, a lock while training, status, `latest` = the latest
finished run, and `--force` replacing a run only once the new one succeeded."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from conftest import one_line_error, run, sphere_points

from levelrecon.recon import runs

TINY = ["--iters", "3", "--width", "8", "--depth", "1", "-q"]


def _status(path: Path) -> str:
    return json.loads((path / "run.json").read_text())["status"]


def test_automatic_names_are_taken_atomically(tmp_path):
    """The name is taken by creating the directory, so two fits started at once never share a run."""
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: runs.new_run_dir("ball", "igr", tmp_path), range(16)))
    assert len(set(made)) == 16 and all(p.is_dir() for p in made)


def test_latest_is_the_latest_finished_run_and_a_running_run_is_locked(in_tmp):
    """`mesh` without a run takes the latest finished fit: not a failed one, not one still training in
    another process; `fit --resume` on that running run is refused."""
    np.save("ok.npy", sphere_points(200))
    assert run("fit", "ok.npy", *TINY).exit_code == 0
    assert (in_tmp / "runs" / "latest").read_text().strip() == "ok_levelset_1"
    r = run("fit", "ok.npy", *TINY, "--lr", "1e30")  # diverges after the run directory was made
    assert r.exit_code == 1 and _status(in_tmp / "runs" / "ok_levelset_2") == "failed"
    proc = subprocess.Popen([sys.executable, "-m", "levelrecon", "fit", "ok.npy", "--iters", "100000", "--width", "8",
                             "--depth", "1", "-q"], stderr=subprocess.PIPE, text=True)
    try:
        busy = in_tmp / "runs" / "ok_levelset_3"
        deadline = time.time() + 120
        while time.time() < deadline and not (busy / "input.npy").is_file():
            time.sleep(0.2)
        assert _status(busy) == "running"
        r = run("mesh", "--resolution", "16", "-o", "m.ply")
        assert r.exit_code == 0, r.output
        assert json.loads((in_tmp / "runs" / "ok_levelset_1" / "run.json").read_text())["mesh"].endswith("m.ply")
        one_line_error(run("fit", "--resume", busy), "ok_levelset_3", "another process")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert _status(busy) == "interrupted"
    assert (in_tmp / "runs" / "latest").read_text().strip() == "ok_levelset_1"  # still: 3 did not finish


def test_force_replaces_the_run_only_after_success(in_tmp):
    np.save("ok.npy", sphere_points(200))
    assert run("fit", "ok.npy", "-o", "r", *TINY).exit_code == 0
    assert run("mesh", "r", "--resolution", "16", "-q").exit_code == 0
    model = (in_tmp / "r" / "model.pt").read_bytes()
    assert run("fit", "ok.npy", "-o", "r", *TINY, "--lr", "1e30", "--force").exit_code == 1
    assert (in_tmp / "r" / "model.pt").read_bytes() == model and (in_tmp / "r" / "mesh.ply").is_file()
    assert _status(in_tmp / "r") == "done"  # the failed refit left the old run whole
    assert run("fit", "ok.npy", "-o", "r", *TINY, "--seed", "1", "--force").exit_code == 0
    assert not (in_tmp / "r" / "mesh.ply").exists()  # no old mesh beside the new model
    assert json.loads((in_tmp / "r" / "run.json").read_text())["config"]["seed"] == 1
    assert sorted(p.name for p in in_tmp.iterdir()) == ["ok.npy", "r", "runs"]  # no staging folders left
