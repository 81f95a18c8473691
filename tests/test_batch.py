"""`levelrecon batch`: many clouds, one table, failures isolated, resumable, local workers and Ray."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import trimesh
from conftest import run, sphere_points

from levelrecon.recon.data.io import write_mesh, write_points

FAST = ["--iters", "5", "--resolution", "32", "--samples", "2000", "-q"]


@pytest.fixture
def scans(in_tmp):
    (in_tmp / "scans").mkdir()
    for i in range(3):
        write_points(sphere_points(600, 0.5 + 0.1 * i, seed=i), in_tmp / "scans" / f"s{i}.xyz")
    (in_tmp / "scans" / "broken.ply").write_text("ply\nformat ascii 1.0\nelement vertex 5\n")
    write_mesh(trimesh.creation.icosphere(4, radius=0.5), in_tmp / "gt.ply")
    (in_tmp / "list.csv").write_text("cloud,gt\nscans/s0.xyz,gt.ply\n")
    return in_tmp


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_batch_table_failures_resume_and_report(scans):
    r = run("batch", "scans", "--manifest", "list.csv", "-o", "out", "--jobs", "2", *FAST)
    assert r.exit_code == 1, r.output  # one cloud failed
    rows = {row["name"]: row for row in _rows(scans / "out" / "results.csv")}
    assert set(rows) == {"broken", "s0", "s1", "s2", "s0_2"}
    assert rows["broken"]["status"] == "failed" and "broken.ply" in rows["broken"]["error"]
    assert "early end" in rows["broken"]["error"] and not (scans / "out" / "broken" / "mesh.ply").exists()
    for name in ("s0", "s1", "s2", "s0_2"):
        assert rows[name]["status"] == "done" and float(rows[name]["chamfer_l1_rel"]) < 0.2
        assert (scans / "out" / name / "mesh.ply").is_file()
    assert rows["s0_2"]["distance"] == "point-to-surface" and rows["s0"]["distance"] == "sample-to-sample"
    report = (scans / "out" / "report.html").read_text()
    assert report.count("<img") == 4 and "failed: " in report
    stamp = (scans / "out" / "s1" / "result.json").stat().st_mtime_ns
    again = run("batch", "scans", "--manifest", "list.csv", "-o", "out", "--iters", "5", "--resolution", "32",
                "--samples", "2000")
    assert again.exit_code == 1 and "4 of 5 clouds already done" in again.stderr
    assert (scans / "out" / "s1" / "result.json").stat().st_mtime_ns == stamp  # skipped, not redone
    ok = run("batch", "scans/s1.xyz", "scans/s2.xyz", "-o", "good", *FAST)
    assert ok.exit_code == 0 and len(json.loads((scans / "good" / "results.json").read_text())["rows"]) == 2


def test_ray_gives_the_same_table_as_local_jobs(scans):
    pytest.importorskip("ray")
    assert run("batch", "scans/s0.xyz", "scans/s2.xyz", "-o", "local", "--jobs", "2", *FAST).exit_code == 0
    r = run("batch", "scans/s0.xyz", "scans/s2.xyz", "-o", "ray", "--ray", "--num-cpus", "1", *FAST)
    assert r.exit_code == 0, r.output
    local, ray_rows = _rows(scans / "local" / "results.csv"), _rows(scans / "ray" / "results.csv")
    for a, b in zip(local, ray_rows, strict=True):
        assert a["name"] == b["name"] and a["status"] == b["status"] == "done"
        assert np.isclose(float(a["chamfer_l1_rel"]), float(b["chamfer_l1_rel"]), rtol=1e-6)


def test_run_names_stay_inside_the_output_folder(in_tmp):
    """Clouds named `...xyz` and `..xyz` (stems `..`, `.`) must not get the run directories `OUT/..`, `OUT/.`."""
    (in_tmp / "in").mkdir()
    write_points(sphere_points(600, 0.5), in_tmp / "in" / "...xyz")
    write_points(sphere_points(600, 0.6, seed=1), in_tmp / "in" / "..xyz")
    r = run("batch", "in/...xyz", "in/..xyz", "-o", "deep/out", "--no-render", *FAST)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (in_tmp / "deep").iterdir()) == ["out"]  # nothing written beside OUT
    rows = json.loads((in_tmp / "deep" / "out" / "results.json").read_text())["rows"]
    out = (in_tmp / "deep" / "out").resolve()
    for row in rows:
        assert row["status"] == "done", row
        assert (in_tmp / row["run_dir"]).resolve().parent == out and (out / row["name"] / "mesh.ply").is_file()
    assert len({row["name"] for row in rows}) == 2


def test_non_utf8_file_names_never_crash(in_tmp):
    """A file name that is not UTF-8 (a surrogate-escaped str in Python): the fit finishes with its loss plot,
    the batch writes its tables, and the name is shown with a replacement character."""
    import os

    (in_tmp / "scans").mkdir()
    odd = os.fsdecode(b"caf\xe9.xyz")
    write_points(sphere_points(600, 0.5), in_tmp / "scans" / odd)
    r = run("fit", f"scans/{odd}", "-o", "r", "--iters", "5", "-q")
    assert r.exit_code == 0, r.output
    assert json.loads((in_tmp / "r" / "run.json").read_text())["status"] == "done"
    assert (in_tmp / "r" / "loss.png").is_file()
    r = run("batch", "scans", "-o", "out", "--no-render", "--iters", "5", "--resolution", "32", "--samples", "2000")
    assert r.exit_code == 0, r.output
    text = (in_tmp / "out" / "results.csv").read_bytes().decode("utf-8")  # valid UTF-8
    assert "caf\ufffd.xyz" in text and "done" in text
    assert "caf\ufffd.xyz" in json.loads((in_tmp / "out" / "results.json").read_text())["rows"][0]["cloud"]
    broken = in_tmp / "scans" / os.fsdecode(b"bad\xff.ply")
    broken.write_text("ply\nformat ascii 1.0\nelement vertex 5\n")
    r = run("batch", "scans", "-o", "out2", "--no-render", "--iters", "5", "--resolution", "32", "--samples", "2000")
    assert r.exit_code == 1 and "bad\ufffd.ply" in r.stderr and "\\udc" not in r.stderr + r.stdout


def test_rerun_with_other_options_redoes_those_clouds(scans):
    """Results are reused only for the options they were made with; a changed --iters re-runs the cloud."""
    args = ["batch", "scans/s1.xyz", "-o", "out", "--no-render", "--resolution", "32", "--samples", "2000"]
    assert run(*args, "--iters", "5", "-q").exit_code == 0
    r = run(*args, "--iters", "6")
    assert r.exit_code == 0 and "already done" not in r.stderr and "other options" in r.stderr
    assert json.loads((scans / "out" / "results.json").read_text())["rows"][0]["steps"] == 6
    r = run(*args, "--iters", "6")
    assert r.exit_code == 0 and "1 of 1 clouds already done" in r.stderr


def test_results_table_is_written_after_every_cloud(scans):
    """While the second cloud trains, results.csv already holds the first one's row."""
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "levelrecon", "batch", "scans/s0.xyz", "scans/s1.xyz", "-o", "out",
                             "--iters", "400", "--width", "8", "--depth", "1", "--no-render", "--resolution", "32",
                             "--samples", "2000", "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    table = scans / "out" / "results.csv"
    deadline = time.time() + 240
    while time.time() < deadline and not table.is_file() and proc.poll() is None:
        time.sleep(0.05)
    first = _rows(table) if table.is_file() else []
    assert proc.wait(timeout=240) == 0, proc.stderr.read()
    assert [row["name"] for row in first] == ["s0"]
    assert [row["name"] for row in _rows(table)] == ["s0", "s1"]
