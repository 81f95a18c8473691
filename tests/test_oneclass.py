"""One-class classification: data loaders, certified AUROC, the estimator API and the `oneclass` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import one_line_error, run
from scipy.io import savemat
from sklearn.base import clone
from sklearn.datasets import load_wine, make_moons

from levelrecon.classify.datasets import Dataset, load_dataset
from levelrecon.classify.metrics import auroc, certified_auroc
from levelrecon.classify.ocsdf import OCSDFClassifier
from levelrecon.classify.protocols import make_split
from levelrecon.errors import InputError

TINY = dict(width=8, depth=1, iters=40, batch=64)
TINY_CLI = ["--width", "8", "--depth", "1", "--iters", "40", "--batch", "64"]



@pytest.fixture
def wine_files(tmp_path):
    """The wine table written in every supported format (labels 0, 1, 2)."""
    X, y = load_wine(return_X_y=True)
    header = ",".join([f"f{i}" for i in range(X.shape[1])] + ["label"])
    np.savetxt(tmp_path / "wine.csv", np.column_stack([X, y]), delimiter=",", header=header, comments="")
    np.save(tmp_path / "wine.npy", np.column_stack([y, X]))
    np.savez(tmp_path / "wine.npz", X=X, y=(y != 0).astype(float))
    savemat(tmp_path / "wine.mat", {"X": X, "y": (y != 0).astype(float)[:, None]})
    return tmp_path, X, y


def test_every_format_reads_the_same_table(wine_files):
    folder, X, y = wine_files
    flags = (y != 0).astype(int)
    csv = load_dataset(folder / "wine.csv", normal_class="0")
    npy = load_dataset(folder / "wine.npy", label_column=0, normal_class="0")
    for ds in (csv, npy, load_dataset(folder / "wine.npz"), load_dataset(folder / "wine.mat"), load_dataset("wine")):
        np.testing.assert_allclose(ds.X, X)
        np.testing.assert_array_equal(ds.y, flags)
    assert csv.feature_names[0] == "f0" and len(csv.feature_names) == X.shape[1]
    assert load_dataset(folder / "wine.csv", normal_class="2").y.sum() == (y != 2).sum()
    assert load_dataset(folder / "wine.npy").y is None  # no label column named: unlabeled, label kept as a feature


@pytest.mark.parametrize("name,content,fragment", [
    ("e.csv", b"", "empty"),
    ("t.csv", b"a,b,label\n1,x,0\n2,3,1\n", "non-numeric"),
    ("r.csv", b"1,2\n3,4,5\n", "fields"),
    ("m.mat", b"not a mat file at all", "not a readable MATLAB"),
    ("n.npy", b"\x93NUMPY garbage", "not a readable NumPy"),
    ("x.parquet", b"1", "unknown data format"),
])
def test_bad_files_raise_input_errors(tmp_path, name, content, fragment):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=fragment):
        load_dataset(tmp_path / name)


def test_label_handling(wine_files):
    folder, _, _ = wine_files
    with pytest.raises(InputError, match="--normal-class"):
        load_dataset(folder / "wine.csv")  # three classes: which one is normal?
    with pytest.raises(InputError, match="not among the labels"):
        load_dataset(folder / "wine.csv", normal_class="7")
    with pytest.raises(InputError, match="no column named"):
        load_dataset(folder / "wine.csv", label_column="nope")
    with pytest.raises(InputError, match="does not exist"):
        load_dataset("no_such_set")


def test_certified_auroc_on_analytic_scores():
    y = np.array([1, 1, 0])
    score = np.array([1.0, 2.0, 0.0])
    assert auroc(y, score) == 1.0
    assert certified_auroc(y, score, 0.0, 1.0) == 1.0
    assert certified_auroc(y, score, 0.3, 1.0) == 1.0  # gap 1 > 2·0.3
    assert certified_auroc(y, score, 0.6, 1.0) == 0.5  # 1 − 0.6 < 0 + 0.6: one pair of two flips
    assert certified_auroc(y, score, 0.3, 2.0) == 0.5  # the Lipschitz constant scales the radius
    rng = np.random.default_rng(0)
    y, score = rng.integers(0, 2, 200), rng.normal(size=200)
    values = [certified_auroc(y, score, e, 1.0) for e in (0.0, 0.1, 0.5, 1.0)]
    assert values[0] == pytest.approx(auroc(y, score)) and values == sorted(values, reverse=True)


def test_estimator_api():
    X, _ = make_moons(300, noise=0.05, random_state=0)
    with pytest.raises(TypeError):
        OCSDFClassifier(16)  # keyword-only
    clf = OCSDFClassifier(**TINY, contamination=0.1)
    assert clf.get_params()["width"] == 8 and not hasattr(clf, "model_")  # __init__ only stores
    assert clf.fit(X) is clf
    twin = clone(clf).fit(X)  # same seed: same model
    np.testing.assert_allclose(twin.score_samples(X), clf.score_samples(X), atol=1e-6)
    s, d, p = clf.score_samples(X), clf.decision_function(X), clf.predict(X)
    np.testing.assert_allclose(d, s - clf.offset_)
    assert set(np.unique(p)) <= {-1, 1} and abs((p == -1).mean() - 0.1) < 0.02
    assert clf.lipschitz_ <= 1 + 1e-4 and clf.n_features_in_ == 2
    with pytest.raises(ValueError, match="5 features, but the model was fitted with 2"):
        clf.score_samples(np.zeros((3, 5)))


def test_save_and_load_give_the_same_scores(tmp_path):
    X, _ = make_moons(200, noise=0.05, random_state=1)
    clf = OCSDFClassifier(**TINY).fit(X)
    clf.save(tmp_path / "m.pt")
    with pytest.raises(InputError, match="exists"):
        clf.save(tmp_path / "m.pt")
    loaded = OCSDFClassifier.load(tmp_path / "m.pt")
    np.testing.assert_allclose(loaded.score_samples(X), clf.score_samples(X), atol=1e-6)
    assert loaded.get_params() == clf.get_params()


def test_protocol_splits():
    ds = load_dataset("wine")
    ad = make_split(ds, "ad")
    assert ad.same and len(ad.X_test) == len(ds.X)
    oc = make_split(ds, "oc", train_fraction=0.5, seed=3)
    n_normal = int((ds.y == 0).sum())
    assert len(oc.X_train) == round(n_normal / 2) and oc.y_test.sum() == ds.y.sum()
    np.testing.assert_allclose(oc.X_train.mean(axis=0), 0, atol=1e-9)  # z-scored with training rows
    with pytest.raises(InputError, match="labels"):
        make_split(Dataset(ds.X, None, "nolabels"), "oc")


def test_oneclass_eval_json(in_tmp):
    r = run("oneclass", "eval", "wine", "--runs", "2", "--eps", "0.1", "--eps", "0.5", *TINY_CLI, "--json", "-")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["protocol"] == "oc" and out["runs"] == 2
    assert set(out["auroc"]) == {"ocsdf", "iforest", "ocsvm", "lof"}
    assert all(len(v["runs"]) == 2 and 0 <= v["mean"] <= 1 for v in out["auroc"].values())
    cert = out["certified_auroc_ocsdf"]
    assert cert["0.1"]["mean"] <= out["auroc"]["ocsdf"]["mean"] and cert["0.5"]["mean"] <= cert["0.1"]["mean"]
    r = run("oneclass", "eval", "breast_cancer", "--protocol", "ad", "--runs", "1", "--baselines", "iforest",
            *TINY_CLI)
    assert r.exit_code == 0, r.output
    assert "Isolation Forest" in r.stdout and "± 0.0000" in r.stdout and "One-Class SVM" not in r.stdout


def test_oneclass_fit_score_plot_on_2d_data(in_tmp):
    X, y = make_moons(300, noise=0.05, random_state=0)
    y = (y == 1).astype(int)  # the lower moon plays the anomalies
    np.savetxt("moons.csv", np.column_stack([X, y]), delimiter=",", header="x1,x2,y", comments="")
    r = run("oneclass", "fit", "moons.csv", "-o", "moons.pt", *TINY_CLI, "--json", "-")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["protocol"] == "oc" and summary["n_train"] == int((y == 0).sum())
    one_line_error(run("oneclass", "fit", "moons.csv", "-o", "moons.pt", *TINY_CLI), "moons.pt", "--force")
    r = run("oneclass", "score", "moons.pt", "moons.csv", "-o", "scores.csv")
    assert r.exit_code == 0, r.output
    assert "AUROC" in r.stdout
    table = np.loadtxt("scores.csv", delimiter=",", skiprows=1)
    assert table.shape == (300, 3)
    np.testing.assert_allclose(table[:, 0], -table[:, 1], atol=1e-5)
    r = run("oneclass", "plot", "moons.pt", "moons.csv")
    assert r.exit_code == 0, r.output
    assert (in_tmp / "moons_contours.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    one_line_error(run("oneclass", "plot", "moons.pt", "wine", "-o", "w.png"), "2-D")


def test_oneclass_bad_input_exit_2(in_tmp):
    (in_tmp / "bad.csv").write_text("a,b\n1,hello\n")
    one_line_error(run("oneclass", "fit", "bad.csv"), "bad.csv", "non-numeric")
    one_line_error(run("oneclass", "eval", "missing.mat"), "missing.mat", "does not exist")
    np.save("u.npy", np.random.default_rng(0).normal(size=(50, 3)))
    one_line_error(run("oneclass", "eval", "u.npy"), "labels")
    (in_tmp / "fake.pt").write_bytes(b"junk")
    one_line_error(run("oneclass", "score", "fake.pt", "u.npy"), "fake.pt")
