"""Scanner input: far outliers, statistical outliers, voxel downsampling, merged files and folders."""

from __future__ import annotations

import json

import numpy as np
from conftest import one_line_error, run, sphere_points

from levelrecon.recon.data.cleaning import (
    clean_cloud,
    far_outlier_mask,
    off_surface_mask,
    statistical_inliers,
    voxel_downsample,
)
from levelrecon.recon.data.io import PointCloud, write_points


def _with_far_points(n_far: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    pts = sphere_points(20000, 0.5, seed=seed, center=(3.0, -1.0, 2.0))
    rng = np.random.default_rng(seed)
    far = rng.uniform(-1, 1, (n_far, 3)) * 1000.0  # 1000× the box, as a stray return or a sentinel
    far[0] = [1e30, 0.0, 0.0]
    return pts, far


def test_far_outliers_are_exactly_the_stray_points():
    pts, far = _with_far_points()
    mask = far_outlier_mask(np.concatenate([pts, far]))
    assert mask[len(pts):].all() and not mask[: len(pts)].any()


def test_a_real_thin_protrusion_is_not_an_outlier():
    """0.3 % of the points on a spike reaching half a box beyond the body: kept."""
    body = sphere_points(20000, 0.5, seed=1)
    spike = np.column_stack([np.linspace(0.5, 1.0, 60), np.zeros(60), np.zeros(60)])
    assert not far_outlier_mask(np.concatenate([body, spike])).any()


def test_off_surface_points_are_found_and_noisy_samples_kept():
    """Noisy samples of a sphere (σ = 0.5 % of r) with 60 stray points 5-30 % of r off the surface: the
    strays are flagged, the noisy samples and a 10× sparser half are not."""
    rng = np.random.default_rng(4)
    pts = sphere_points(20000, 1.0, seed=4)
    pts = pts[(pts[:, 0] < 0) | (rng.random(len(pts)) < 0.1)]  # the x > 0 half 10× sparser
    pts = pts * (1 + rng.normal(0, 0.005, (len(pts), 1)))
    stray = sphere_points(60, 1.0, seed=5) * rng.uniform(1.05, 1.3, (60, 1))
    mask = off_surface_mask(np.concatenate([pts, stray]))
    assert mask[len(pts):].mean() > 0.9 and mask[: len(pts)].sum() <= 2


def test_statistical_outliers_and_voxel_downsampling():
    pts = sphere_points(5000, 1.0, seed=2)
    stray = sphere_points(50, 1.0, seed=3) * np.random.default_rng(3).uniform(1.3, 1.6, (50, 1))  # off the surface
    noisy = np.concatenate([pts, stray])
    keep = statistical_inliers(noisy)
    assert (~keep[5000:]).mean() > 0.8 and keep[:5000].mean() > 0.97
    down = voxel_downsample(PointCloud(pts, pts.copy()), 0.2)
    assert 100 < len(down.points) < 1000
    np.testing.assert_allclose(np.linalg.norm(down.normals, axis=1), 1.0, atol=1e-6)
    # voxel means of a unit sphere lie just inside it
    assert 0.9 < np.median(np.linalg.norm(down.points, axis=1)) <= 1.0


def test_clean_cloud_merges_and_counts():
    a, far = _with_far_points()
    b = sphere_points(1000, 0.5, seed=9, center=(3.0, -1.0, 2.0))
    out = clean_cloud([PointCloud(np.concatenate([a, far])), PointCloud(b)])
    assert out.far_outliers == 20 and out.merged_from == 2 and len(out.cloud.points) == 21000


def test_fit_drops_far_outliers_with_a_warning(in_tmp):
    pts, far = _with_far_points()
    write_points(np.concatenate([pts, far]), "scan.ply")
    r = run("fit", "scan.ply", "--iters", "2", "--set", "estimate_normals=false", "-o", "r")
    assert r.exit_code == 0, r.output
    assert "dropped 20 point(s) far outside" in r.stderr
    info = json.loads((in_tmp / "r" / "run.json").read_text())
    assert info["far_outliers_dropped"] == 20 and info["n_points"] == 20000
    assert abs(info["normalization"]["scale"] - 0.5) < 0.01  # the sphere, not the strays, sets the scale
    assert info["outliers"] == "off-surface" and info["outliers_dropped"] <= 2
    r = run("fit", "scan.ply", "--iters", "2", "--keep-far", "--outliers", "none", "-o", "k", "-q",
            "--set", "estimate_normals=false")
    assert r.exit_code == 0 and json.loads((in_tmp / "k" / "run.json").read_text())["n_points"] == 20020


def test_outlier_modes_of_fit(in_tmp):
    pts = sphere_points(5000, 0.5, seed=6)
    stray = sphere_points(40, 0.5, seed=7) * 1.3
    write_points(np.concatenate([pts, stray]), "scan.xyz")
    quick = ["--iters", "2", "--set", "estimate_normals=false"]
    # 40 strays in 5,040 points (0.8 %): auto adds the statistical filter to the off-surface one
    for args, mode in ((quick, "off-surface+statistical"), (["--method", "poisson"], "none"),
                       ([*quick, "--outliers", "off-surface"], "off-surface"),
                       ([*quick, "--outliers", "statistical"], "statistical")):
        out = f"r_{mode.replace('+', '_')}"
        r = run("fit", "scan.xyz", *args, "-o", out, "-q")
        assert r.exit_code == 0, r.output
        info = json.loads((in_tmp / out / "run.json").read_text())
        assert info["outliers"] == mode
        assert (info["outliers_dropped"] >= 38) if mode != "none" else info["outliers_dropped"] == 0


def test_fit_merges_files_and_folders(in_tmp):
    (in_tmp / "scans").mkdir()
    for i in range(3):
        write_points(sphere_points(400, 0.5, seed=i), in_tmp / "scans" / f"part{i}.xyz")
    r = run("fit", "scans", "--method", "igr", "--iters", "2", "-o", "r", "-q", "--set", "estimate_normals=false")
    assert r.exit_code == 0, r.output
    info = json.loads((in_tmp / "r" / "run.json").read_text())
    assert info["n_points"] == 1200 and len(info["inputs"]) == 3
    r = run("fit", "scans/part0.xyz", "scans/part1.xyz", "--method", "igr", "--iters", "2", "-o", "two", "-q",
            "--set", "estimate_normals=false")
    assert r.exit_code == 0 and json.loads((in_tmp / "two" / "run.json").read_text())["n_points"] == 800
    (in_tmp / "empty").mkdir()
    one_line_error(run("fit", "empty", "-o", "e"), "empty", "no cloud files")
    assert not (in_tmp / "e").exists()
