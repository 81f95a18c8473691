"""Classifier tasks: decision-boundary projections, the geometric SVM loss, PGD, data loading and the CLI."""

from __future__ import annotations

import gzip
import json
import pickle

import numpy as np
import pytest
import torch
from conftest import one_line_error, run

from levelrecon.classify.attacks import accuracy, margin_objective, pgd, robust_accuracy, xent_objective
from levelrecon.classify.boundary import class_margin, project_on_segment, project_to_boundary
from levelrecon.classify.checkpoint import load_classifier
from levelrecon.classify.data import ClassData, load_data, split_data
from levelrecon.classify.networks import NetworkSpec
from levelrecon.classify.objectives import GeometricSVM, RobustMargin, make_objective
from levelrecon.classify.train import fit_and_score
from levelrecon.errors import InputError


@pytest.fixture(scope="module")
def blobs_model():
    """A 3-class MLP trained with cross-entropy on 2-D blobs, and its data."""
    data = load_data("blobs", seed=0, toy_samples=300)
    res = fit_and_score(make_objective("xent"), NetworkSpec("mlp", (2,), 3, 32, 2), data, None, 300, seed=0)
    return res.model, data


@pytest.fixture(scope="module")
def digits_model():
    """An MLP trained with cross-entropy on scikit-learn digits ([0, 1] pixels), and its test part."""
    train, test = split_data(load_data("digits"), test_size=300, train_size=600)
    res = fit_and_score(make_objective("xent"), NetworkSpec("mlp", (1, 8, 8), 10, 64, 2), train, test, 300)
    assert res.test_accuracy > 0.85
    return res.model, test


# ------------------------------------------------------------------------------ decision-boundary geometry
def test_projection_lands_on_the_decision_boundary(blobs_model):
    model, data = blobs_model
    x, y = data.x, data.y
    p, reached, ok = project_to_boundary(model, x, y)
    assert ok.float().mean() > 0.95
    with torch.no_grad():
        logits = model(p[ok])
    top2 = logits.topk(2, dim=1).values
    assert (top2[:, 0] - top2[:, 1]).abs().max() < 1e-3  # two classes tie: a point of the decision boundary
    assert class_margin(logits, y[ok]).abs().max() < 1e-3  # ... and the true class is one of them
    # stepping back toward x (correctly classified) gives class y, stepping beyond gives another class
    correct = (model(x).argmax(1) == y) & ok
    u = (x - p)[correct]
    u = u / u.norm(dim=1, keepdim=True)
    with torch.no_grad():
        inside = model(p[correct] + 1e-2 * u).argmax(1)
        outside = model(p[correct] - 1e-2 * u).argmax(1)
    assert (inside == y[correct]).float().mean() > 0.95
    assert (outside != y[correct]).float().mean() > 0.95


def test_projection_of_affine_classifier_is_the_orthogonal_projection():
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 2)  # F_1 = (w1 − w0)·x + (b1 − b0): a hyperplane
    x = torch.randn(50, 5)
    y = torch.ones(50, dtype=torch.long)
    w = (model.weight[1] - model.weight[0]).detach()
    b = (model.bias[1] - model.bias[0]).detach()
    exact = x - ((x @ w + b) / (w @ w))[:, None] * w
    p, _, ok = project_to_boundary(model, x, y)
    assert ok.all()
    torch.testing.assert_close(p, exact, atol=1e-5, rtol=1e-5)


def test_segment_projection_finds_the_sign_change(digits_model):
    model, test = digits_model
    x, y = test.x[:100], test.y[:100]
    x_adv = pgd(margin_objective(model, y), x, 0.3, 20, bounds=(0.0, 1.0))
    with torch.no_grad():
        flipped = (class_margin(model(x), y) > 0) != (class_margin(model(x_adv), y) > 0)
    assert flipped.sum() > 10
    p, reached, ok = project_on_segment(model, x[flipped], x_adv[flipped], y[flipped])
    assert ok.float().mean() > 0.9
    assert reached[ok].abs().max() < 1e-4
    # p lies on the segment: p − x is parallel to x_adv − x with a parameter in [0, 1]
    d = (x_adv - x)[flipped][ok]
    t = ((p[ok] - x[flipped][ok]) * d).sum(1) / (d * d).sum(1)
    assert ((t >= 0) & (t <= 1)).all()
    torch.testing.assert_close(p[ok], x[flipped][ok] + t[:, None] * d, atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------ losses
def test_geometric_svm_of_affine_classifier_is_the_linear_svm():
    """For an affine F, d(x, p)/Δ = F(x) and 1/Δ = ‖g‖₂²/‖g‖∞ (L∞ distances): hinge + λ·margin term."""
    torch.manual_seed(1)
    model = torch.nn.Linear(4, 2)
    x = torch.randn(64, 4)
    y = torch.randint(0, 2, (64,))
    lam = 0.3
    loss, logs = GeometricSVM(lam=lam, ramp=0.0)(model, x, y, 0.5)
    with torch.no_grad():
        f = class_margin(model(x), y)
        g = model.weight[1] - model.weight[0]
        expected = torch.relu(1 - f).mean() + lam * (g @ g) / g.abs().max()
    assert logs["converged"] == 1.0
    torch.testing.assert_close(loss.detach(), expected, atol=1e-4, rtol=1e-4)


def test_geometric_svm_loss_is_finite_and_decreases_on_separable_data():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 60)
    x = rng.normal(scale=0.3, size=(120, 2)) + np.where(y[:, None] == 0, -1.0, 1.0) * np.array([1.5, 0.5])
    data = ClassData(torch.tensor(x, dtype=torch.float32), torch.tensor(y), (2,), 2, None, "two clusters")
    objective = GeometricSVM(lam=0.01, ramp=0.0)  # fixed λ: the objective itself must go down
    res = fit_and_score(objective, NetworkSpec("mlp", (2,), 2, 32, 2), data, None, 150, batch_size=64, seed=0)
    losses = np.array([h["loss"] for h in res.history])
    assert np.isfinite(losses).all()
    assert losses[-10:].mean() < 0.25 * losses[:10].mean()
    assert res.train_accuracy == 1.0
    assert np.mean([h["converged"] for h in res.history[-10:]]) > 0.9


def test_robust_margin_objective_gives_finite_loss_and_gradients(digits_model):
    model, test = digits_model
    objective = RobustMargin(eps=0.2, steps=5, ramp=0.0, bounds=(0.0, 1.0))
    loss, logs = objective(model, test.x[:128], test.y[:128], 0.5)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert torch.isfinite(loss) and loss > 0 and logs["flipped"] > 0
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert 0 < logs["rho"] <= 0.25 * 1.25 + 1e-6  # boundary points lie inside the search ball
    model.zero_grad()


def test_unknown_objective_option_is_an_input_error():
    with pytest.raises(InputError, match="nonsense"):
        make_objective("geosvm", nonsense=1)


# ------------------------------------------------------------------------------ attacks
def test_pgd_stays_in_the_ball_and_lowers_accuracy(digits_model):
    model, test = digits_model
    x, y = test.x, test.y
    eps = 0.1
    for objective in (xent_objective(model, y), margin_objective(model, y)):
        x_adv = pgd(objective, x, eps, 10, bounds=(0.0, 1.0))
        assert (x_adv - x).abs().max() <= eps + 1e-6
        assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    radius = torch.linspace(0.0, 0.2, len(x))  # per-example radii
    x_adv = pgd(xent_objective(model, y), x, radius, 5, bounds=(0.0, 1.0))
    assert ((x_adv - x).abs().amax(dim=1) <= radius + 1e-6).all()
    scores = robust_accuracy(model, test, eps, 10)
    assert scores["clean"] == pytest.approx(accuracy(model, test))
    assert scores["xent_pgd"] < scores["clean"] - 0.2 and scores["margin_pgd"] < scores["clean"] - 0.2
    assert scores["worst"] <= min(scores["xent_pgd"], scores["margin_pgd"])


# ------------------------------------------------------------------------------ data
def _write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_idx_npz_csv_loaders_and_split(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(60, 6, 6))
    labels = np.arange(60) % 3
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    for spec in (tmp_path, tmp_path / "t10k-images-idx3-ubyte.gz"):
        data = load_data(spec)
        assert data.shape == (1, 6, 6) and data.n_classes == 3 and data.bounds == (0.0, 1.0)
        np.testing.assert_allclose(data.x.numpy(), images.reshape(60, -1) / 255.0, atol=1e-6)
    assert load_data("mnist", data_dir=tmp_path).name == "mnist-t10k"
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(40, 3)), y=np.repeat([5, 7], 20))
    data = load_data(tmp_path / "d.npz")
    assert data.shape == (3,) and data.y.tolist() == [0] * 20 + [1] * 20  # labels remapped to 0..k-1
    (tmp_path / "t.csv").write_text("a,b,label\n" + "\n".join(f"{i},{-i},{i % 2}" for i in range(30)))
    assert load_data(tmp_path / "t.csv").x.shape == (30, 2)
    # the test part depends only on the split seed; training draws are stratified
    full = load_data("digits")
    _, test_a = split_data(full, test_size=200, train_size=50, seed=1)
    train_b, test_b = split_data(full, test_size=200, train_size=100, seed=2)
    assert torch.equal(test_a.x, test_b.x)
    assert torch.bincount(train_b.y).tolist() == [10] * 10


@pytest.mark.parametrize("content,fragment", [
    (b"", "empty"),
    (b"\x00\x00\x08\x03" + b"\x00\x00\x00\x05" * 3 + b"\x01" * 7, "IDX header"),
    (b"PK\x03\x04 not really a zip", "not a readable .npz"),
])
def test_bad_data_files_raise_input_error(tmp_path, content, fragment):
    name = {"IDX header": "x-images-idx3-ubyte", "not a readable .npz": "d.npz"}.get(fragment, "e.csv")
    (tmp_path / name).write_bytes(content)
    if "idx3" in name:
        _write_idx(tmp_path / "x-labels-idx1-ubyte", np.zeros(5))
    with pytest.raises(InputError, match=fragment):
        load_data(tmp_path / name)


# ------------------------------------------------------------------------------ CLI
@pytest.mark.parametrize("sub", [[], ["svm"], ["robust"], ["attack"], ["plot"]])
def test_group_and_subcommands_have_examples(sub):
    result = run("classify", *sub, "--help")
    assert result.exit_code == 0 and "Examples:" in result.output


def test_cli_svm_attack_robust_plot(in_tmp):
    r = run("classify", "svm", "moons", "--toy-samples", "120", "--steps", "40", "--width", "16", "--compare",
            "-o", "svm.pt", "--json", "-", "-q")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert [row["loss"] for row in summary["results"]] == ["geosvm", "xent", "hinge"]
    assert summary["n_train"] + summary["n_test"] == 120
    payload = torch.load("svm.pt", weights_only=True)
    assert payload["format"] == "levelrecon-classifier" and payload["info"]["objective"]["name"] == "geosvm"
    model, spec, _ = load_classifier("svm.pt")
    assert spec.arch == "mlp" and spec.shape == (2,)
    one_line_error(run("classify", "svm", "moons", "--steps", "5", "-o", "svm.pt"), "svm.pt", "--force")

    r = run("classify", "attack", "svm.pt", "moons", "--eps", "0.3", "--steps", "5", "--json", "-")
    assert r.exit_code == 0, r.output
    scores = json.loads(r.stdout)
    assert scores["n"] == summary["n_test"] and scores["worst"] <= scores["clean"]

    r = run("classify", "robust", "digits", "--eps", "0.1", "--train-size", "200", "--epochs", "1",
            "--train-steps", "2", "--attack-steps", "3", "--attack-size", "50", "--compare", "--json", "-", "-q")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["results"]
    assert [row["method"] for row in rows] == ["margin", "pgd", "standard"]
    assert all(0 <= row["worst"] <= row["clean"] for row in rows)

    r = run("classify", "plot", "blobs", "--toy-samples", "90", "--steps", "30", "--resolution", "40", "-q")
    assert r.exit_code == 0, r.output
    assert (in_tmp / "blobs_level_sets.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bad_input_exit_2_one_line(in_tmp):
    (in_tmp / "bad.csv").write_text("x,y,label\n1,2,hello\n3,4,world\n")
    one_line_error(run("classify", "svm", "bad.csv"), "bad.csv", "cannot parse")
    one_line_error(run("classify", "svm", "nowhere.npz"), "nowhere.npz", "built-in")
    one_line_error(run("classify", "svm", "mnist", "--data-dir", "."), "MNIST IDX")
    one_line_error(run("classify", "svm", "digits", "--train-size", "5000"), "training size")
    one_line_error(run("classify", "plot", "digits"), "2-D")
    np.savez(in_tmp / "d.npz", x=np.zeros((10, 3)), y=np.arange(10) % 2)
    one_line_error(run("classify", "robust", "d.npz", "--eps", "0.1", "--arch", "conv"), "image data")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open("evil.pt", "wb") as fh:
        pickle.dump({"format": "levelrecon-classifier", "x": Evil()}, fh)
    r = run("classify", "attack", "evil.pt", "moons", "--eps", "0.1", "--steps", "2")
    one_line_error(r, "evil.pt", "not a readable")
    assert "pwned" not in r.output
