"""Adaptive (coarse-to-fine) extraction: the dense mesh for a fraction of the field evaluations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import trimesh
from conftest import DATA, run, sphere_points
from scipy.spatial import cKDTree

from levelrecon.errors import InputError, LevelreconWarning
from levelrecon.recon.data.io import write_points
from levelrecon.recon.meshing.adaptive import DEFAULT_MARGIN, extract_adaptive, may_contain_level
from levelrecon.recon.meshing.marching import clean, evaluate_grid, extract_mesh, grid_axis


def sphere(p: np.ndarray, r: float = 0.6, c: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    return np.linalg.norm(p - np.asarray(c, dtype=p.dtype), axis=1) - r


def torus(p: np.ndarray, big: float = 0.5, small: float = 0.18, shift: float = 0.0) -> np.ndarray:
    q = np.sqrt((p[:, 0] - shift) ** 2 + p[:, 1] ** 2) - big
    return np.sqrt(q**2 + p[:, 2] ** 2) - small


def two_spheres(p: np.ndarray) -> np.ndarray:
    return np.minimum(sphere(p, 0.35, (-0.5, 0.0, 0.0)), sphere(p, 0.3, (0.5, 0.1, 0.0)))


def genus_two(p: np.ndarray) -> np.ndarray:
    """Two overlapping tori side by side (1-Lipschitz: a min of distance functions)."""
    return np.minimum(torus(p, 0.4, 0.12, -0.42), torus(p, 0.4, 0.12, 0.42))


def wavy(p: np.ndarray) -> np.ndarray:
    """Not a distance function, but 0.95-Lipschitz: |∇| ≤ 0.7 + 0.05·5."""
    return 0.7 * (np.linalg.norm(p, axis=1) - 0.55) + 0.05 * np.sin(5 * p[:, 0]) * np.cos(5 * p[:, 1])


def assert_same_mesh(a: trimesh.Trimesh, b: trimesh.Trimesh, atol: float = 1e-6) -> None:
    """Same vertices to float precision and the same oriented triangles (vertex order aside)."""
    a, b = clean(a), clean(b)
    assert len(a.faces) == len(b.faces) and len(a.vertices) == len(b.vertices)
    dist, match = cKDTree(b.vertices).query(a.vertices)
    assert dist.max() < atol
    assert len(np.unique(match)) == len(match)

    def canonical(faces: np.ndarray) -> set[tuple[int, ...]]:  # rotate each triangle to start at its least vertex
        roll = np.argmin(faces, axis=1)
        return {tuple(np.roll(f, -r)) for f, r in zip(faces.tolist(), roll, strict=True)}

    assert canonical(match[a.faces]) == canonical(np.asarray(b.faces))


def dense_mesh(fn, resolution: int, level: float = 0.0, inside: str = "negative") -> trimesh.Trimesh:  # noqa: ANN001
    return extract_mesh(evaluate_grid(fn, resolution), level, inside=inside)


@pytest.mark.parametrize("fn, euler", [(sphere, 2), (torus, 0), (two_spheres, 4), (genus_two, -2)])
@pytest.mark.parametrize("resolution", [64, 128])
def test_same_mesh_as_dense_on_sdfs(fn, euler, resolution):  # noqa: ANN001
    mesh, stats = extract_adaptive(fn, resolution)
    dense = dense_mesh(fn, resolution)
    assert_same_mesh(mesh, dense)
    mesh = clean(mesh)
    assert mesh.is_watertight and mesh.euler_number == clean(dense).euler_number == euler
    assert mesh.volume > 0, "faces point outward, as extract_mesh's"
    assert stats.evaluations < 0.4 * resolution**3


def test_certified_path_matches_dense_on_a_lipschitz_field():
    mesh, stats = extract_adaptive(wavy, 100, lipschitz=0.95, margin=0.01)  # margin is ignored with a bound
    assert stats.band.startswith("certified")
    assert_same_mesh(mesh, dense_mesh(wavy, 100))


def test_positive_inside_and_levels_other_than_zero():
    fn = lambda p: 0.5 - np.linalg.norm(p, axis=1)  # noqa: E731  (OCSDF-like: positive inside)
    mesh, _ = extract_adaptive(fn, 48, level=0.1, inside="positive", lipschitz=1.0)
    assert_same_mesh(mesh, dense_mesh(fn, 48, level=0.1, inside="positive"))
    assert clean(mesh).volume == pytest.approx(4 / 3 * np.pi * 0.4**3, rel=0.03)


def test_far_fewer_evaluations_than_dense_at_high_resolution():
    _, at256 = extract_adaptive(torus, 256)
    assert at256.evaluations < 0.06 * at256.dense_evaluations
    assert at256.evaluations < 128**3  # less than the dense 128³ grid
    mesh, at512 = extract_adaptive(sphere, 512, lipschitz=1.0)
    assert at512.evaluations < 0.012 * at512.dense_evaluations
    assert at512.evaluations < 128**3
    mesh = clean(mesh)
    assert mesh.is_watertight and mesh.euler_number == 2
    h = 2.2 / 511
    assert np.abs(np.linalg.norm(mesh.vertices, axis=1) - 0.6).max() < h / 2


def test_each_node_is_evaluated_once_in_bounded_chunks():
    seen: list[np.ndarray] = []

    def counting(p: np.ndarray) -> np.ndarray:
        assert len(p) <= 5000
        seen.append(p.copy())
        return torus(p)

    progress: list[tuple[int, int]] = []
    mesh, stats = extract_adaptive(counting, 96, chunk=5000, progress=lambda d, t: progress.append((d, t)))
    points = np.concatenate(seen)
    assert len(points) == stats.evaluations == len(np.unique(points, axis=0))
    ax = grid_axis(96, (-1.1, 1.1)).astype(np.float32)  # exactly the dense grid's nodes
    assert np.isin(points, ax).all()
    assert progress[-1][0] == progress[-1][1] == stats.evaluations
    assert all(d <= t for d, t in progress) and [d for d, _ in progress] == sorted(d for d, _ in progress)
    other, _ = extract_adaptive(torus, 96, chunk=1 << 20)
    assert np.array_equal(mesh.vertices, other.vertices) and np.array_equal(mesh.faces, other.faces)


def test_block_size_and_resolution_not_a_power_of_two_are_invisible():
    dense = dense_mesh(genus_two, 150)
    for block in (5, 16, 64):  # odd blocks too: vertices on shared block faces must still join
        mesh, _ = extract_adaptive(genus_two, 150, block=block)
        assert_same_mesh(mesh, dense)
        assert len(mesh.vertices) == len(clean(mesh.copy()).vertices), "no duplicate vertex left between blocks"


def tiny_balls(resolution: int, scale: float) -> tuple:
    """A big sphere plus balls of radius 0.45 h centred on grid nodes, all × `scale` (Lipschitz = scale).

    Each small ball holds a single grid node: the dense grid sees it, but no cell corner is within the
    |∇F| ≈ 1 band of coarse cells, so a band that assumes |∇F| ≤ 1 can miss it.
    """
    ax = grid_axis(resolution, (-1.1, 1.1))
    h = ax[1] - ax[0]
    centres = [(ax[i], ax[j], ax[k]) for i, j, k in [(20, 21, 22), (70, 30, 88), (95, 90, 15), (50, 99, 60)]]

    def fn(p: np.ndarray) -> np.ndarray:
        d = sphere(p, 0.3, (0.0, 0.0, 0.0))
        for c in centres:
            d = np.minimum(d, sphere(p, 0.45 * h, c))
        return scale * d

    return fn, len(centres)


def test_certified_path_never_misses_a_thin_feature_the_dense_grid_finds():
    fn, n_balls = tiny_balls(128, scale=4.0)
    dense = dense_mesh(fn, 128)
    assert len(clean(dense).split(only_watertight=False)) == 1 + n_balls
    mesh, stats = extract_adaptive(fn, 128, lipschitz=4.0)
    assert_same_mesh(mesh, dense)
    assert stats.evaluations < 0.2 * 128**3
    # The heuristic band is only as good as its |∇F| assumption: a margin of 0.1 assumes |∇F| ≤ 0.2 on a field
    # of slope 4. The slope measured on the tested cells says so, and the band is widened to cover it and
    # refined again (no warning): the balls come back, the same mesh as dense.
    with warnings.catch_warnings():
        warnings.simplefilter("error", LevelreconWarning)
        widened, wstats = extract_adaptive(fn, 128, margin=0.1)
    assert "widened" in wstats.band and wstats.steepest > 0.2
    assert_same_mesh(widened, dense)
    assert wstats.evaluations < 0.3 * 128**3


def test_may_contain_level_is_certified_for_lipschitz_fields():
    rng = np.random.default_rng(0)
    # 1-Lipschitz f(x) = |x - c| - r on unit cells: a cell with a point of the level set is never cleared.
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float)
    for _ in range(300):
        c, r = rng.uniform(-1, 2, 3), rng.uniform(0.0, 1.5)
        values = (np.linalg.norm(corners - c, axis=1) - r)[None].astype(np.float32)
        inside = np.clip(c, 0, 1)  # nearest point of the cell to c; the farthest is a corner
        far = np.linalg.norm(corners - c, axis=1).max()
        holds_level = np.linalg.norm(inside - c) <= r <= far
        if holds_level:
            assert may_contain_level(values, 0.0, np.sqrt(3) / 2, 1.0)[0]
            assert may_contain_level(values[:, :1], 0.0, np.sqrt(3), 1.0)[0]


def test_no_crossing_is_the_dense_error():
    fn = lambda p: np.linalg.norm(p, axis=1) + 1  # noqa: E731
    with pytest.raises(InputError, match="never crosses level 0") as adaptive:
        extract_adaptive(fn, 16)
    with pytest.raises(InputError) as dense:
        extract_mesh(evaluate_grid(fn, 16), 0.0)
    assert str(adaptive.value) == str(dense.value)
    with pytest.raises(InputError, match="never crosses level 0"):
        extract_adaptive(fn, 300)


def test_mesh_command_is_adaptive_by_default_and_dense_on_request(in_tmp):
    write_points(sphere_points(1500, 0.7, seed=3), "ball.ply")
    assert run("fit", "ball.ply", "--iters", "30", "--width", "32", "--depth", "2", "-o", "r", "-q").exit_code == 0
    r = run("mesh", "r", "--resolution", "40", "-o", "adaptive.ply")
    assert r.exit_code == 0, r.output
    assert "field evaluations" in r.stderr and "adaptive" in r.stderr
    r = run("mesh", "r", "--resolution", "40", "--dense", "-o", "dense.ply")
    assert r.exit_code == 0, r.output
    assert_same_mesh(trimesh.load("adaptive.ply", process=False), trimesh.load("dense.ply", process=False),
                     atol=1e-5)
    r = run("mesh", "r", "--margin", "0", "-o", "x.ply")
    assert r.exit_code == 2 and "--margin" in r.stderr
    assert f"[default: {DEFAULT_MARGIN:.1f}]" in " ".join(run("mesh", "--help").output.split())


def test_auto_resolution_follows_the_sampling_density():
    """A field fitted to a sparse cloud is meshed on the 128 grid, a dense cloud's on the 256 one: the choice
    is the cloud's spacing in cells, whatever its size or position."""
    from levelrecon.recon.data.io import load_points
    from levelrecon.recon.data.normalize import Normalization
    from levelrecon.recon.meshing.extract import auto_resolution

    dense = load_points(DATA / "bunny_20k.ply").points
    sparse = dense[np.random.default_rng(0).choice(len(dense), 2000, replace=False)]
    for cloud, expected in ((dense, 256), (sparse, 128), (sparse * 1000.0 + 5.0, 128)):
        assert auto_resolution(Normalization.fit(cloud).apply(cloud)) == expected
