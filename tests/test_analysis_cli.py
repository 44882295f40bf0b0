"""`latentscape analyze ...` end to end: two real (tiny) training runs, activations, decoding, CKA,
RSA, disentanglement, neural predictivity on synthetic recordings, the one-page report; and one
clear line per bad input."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from latentscape.analysis import tasks
from latentscape.analysis.actfile import ActivationFile
from test_train import run_cli, write_learnable

LAYERS = "features.2,features.5,features.9,fc"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 160-image dataset, two tinycnn runs (position vs category), both networks' activations."""
    from latentscape.cli import main
    base = tmp_path_factory.mktemp("an")
    data = base / "data"
    write_learnable(data, n=160, resolution=16, seed=2, vary=("position", "category", "pose"))
    for name, targets in (("pos", "image_xy"), ("cat", "category")):
        with pytest.raises(SystemExit) as e:
            main(["train", str(data), "--targets", targets, "--arch", "tinycnn", "--steps", "30", "--batch-size", "32",
                  "--eval-every", "30", "--num-workers", "0", "--device", "cpu", "--out", str(base / name), "--quiet"])
        assert e.value.code == 0
        with pytest.raises(SystemExit) as e:
            main(["analyze", "activations", str(base / name), "--data", str(data), "--layers", LAYERS,
                  "--width", "512", "--device", "cpu", "--out", str(base / f"{name}.h5"), "--quiet"])
        assert e.value.code == 0
    return base, data


def test_activations_of_a_run_are_its_trained_network(setup):
    base, data = setup
    f = ActivationFile(base / "pos.h5")
    assert f.meta["network"]["kind"] == "run" and f.meta["network"]["step"] == 30
    assert f.meta["network"]["targets"] == ["image_xy"] and f.layers == LAYERS.split(",")
    # the run's fc output is its prediction head: one column per target (u, v)
    assert f.widths["fc"] == 2


def test_decode_cli_writes_what_the_api_returns(setup, capsys):
    base, data = setup
    code, out, err = run_cli(["analyze", "decode", base / "pos.h5", "--latents", "image_xy,category",
                              "--out", base / "dec", "--quiet"], capsys)
    assert code == 0, err
    written = json.loads((base / "dec" / "decode.json").read_text())
    api = tasks.decode(base / "pos.h5", base / "dec-api", latents=["image_xy", "category"])
    assert written["scores"] == json.loads(json.dumps(api["scores"]))
    score = {(s["layer"], s["latent"]): s["score"] for s in written["scores"]}
    assert score[("fc", "image_xy.u")] > 0.5  # the head trained on image_xy reads it out
    assert (base / "dec" / "decode.csv").read_text().startswith("layer,latent,kind,metric,score")
    assert (base / "dec" / "decode.png").stat().st_size > 5000
    assert re.search(r"fc\s+image_xy.u\s+r2", out)


def test_cka_cli_self_similarity_is_one_and_the_two_runs_differ(setup, capsys):
    base, _ = setup
    code, out, err = run_cli(["analyze", "cka", base / "pos.h5", base / "pos.h5", "--out", base / "self"], capsys)
    assert code == 0, err
    m = np.array(json.loads((base / "self" / "cka.json").read_text())["matrix"])
    np.testing.assert_allclose(np.diag(m), 1.0, atol=1e-9)
    assert np.all(m <= 1 + 1e-9) and np.all(m >= 0)
    for kind in ("linear", "debiased", "rbf"):
        code, out, err = run_cli(["analyze", "cka", base / "pos.h5", base / "cat.h5", "--kind", kind,
                                  "--out", base / f"ab-{kind}"], capsys)
        assert code == 0, err
        m = np.array(json.loads((base / f"ab-{kind}" / "cka.json").read_text())["matrix"])
        assert m.shape == (4, 4) and m[3, 3] < 0.999  # different heads: the fc layers differ
    assert (base / "ab-linear" / "cka.png").is_file()


def test_disentanglement_and_rsa_cli(setup, capsys):
    base, _ = setup
    code, out, err = run_cli(["analyze", "disentanglement", base / "pos.h5", "--latents", "image_xy,category",
                              "--out", base / "dis", "--quiet"], capsys)
    assert code == 0, err
    d = json.loads((base / "dis" / "disentanglement.json").read_text())
    assert d["factors"] == ["image_xy.u", "image_xy.v", "category"]
    for layer in LAYERS.split(","):
        for m in tasks.METRICS:
            assert 0 <= d["layers"][layer][m] <= 1.0 + 1e-9
    assert "mig.image_xy.u" in d["layers"]["fc"]
    code, out, err = run_cli(["analyze", "rsa", base / "pos.h5", base / "pos.h5", "--out", base / "rsa"], capsys)
    assert code == 0, err
    np.testing.assert_allclose(np.diag(json.loads((base / "rsa" / "rsa.json").read_text())["matrix"]), 1.0)


def recordings(base, acts: ActivationFile, layer: str, reps: int = 4, noise: float = 0.5, nan: bool = False):
    """Neurons that are linear functions of `layer` plus noise, `reps` repetitions, as NetCDF."""
    rng = np.random.default_rng(0)
    x = acts.features(layer)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    signal = x @ rng.normal(size=(x.shape[1], 12)) / np.sqrt(x.shape[1])
    signal /= signal.std(0)
    resp = signal[:, :, None] + noise * rng.normal(size=(*signal.shape, reps))
    if nan:
        resp[3, 2, 1] = np.nan
    da = xr.DataArray(resp, dims=("presentation", "neuroid", "repetition"),
                      coords={"stimulus_id": ("presentation", acts.index), "neuroid_id": ("neuroid", [f"n{i}" for i in range(12)])})
    path = base / ("nan.nc" if nan else "rec.nc")
    da.to_netcdf(path, engine="h5netcdf")
    return path


def test_neural_cli_reports_raw_and_ceiled_scores(setup, capsys):
    base, _ = setup
    rec = recordings(base, ActivationFile(base / "pos.h5"), "fc")
    code, out, err = run_cli(["analyze", "neural", base / "pos.h5", "--neural", rec, "--components", "5",
                              "--splits", "4", "--out", base / "neu"], capsys)
    assert code == 0, err
    r = json.loads((base / "neu" / "neural.json").read_text())
    assert set(r["layers"]) == set(LAYERS.split(",")) and r["stratified_by_object"]
    # injected: unit signal, noise 0.5 per repetition, 4 repetitions -> reliability 1 / (1 + 0.25 / 4)
    assert abs(r["ceiling"]["median"] - 1 / (1 + 0.25 / 4)) < 0.05
    assert r["layers"]["fc"]["median_r_ceiled"] > r["layers"]["fc"]["median_r"]
    assert "best layer:" in out and (base / "neu" / "neural.png").is_file()


def test_report_puts_everything_on_one_page(setup, capsys):
    base, data = setup
    rec = recordings(base, ActivationFile(base / "pos.h5"), "fc")
    code, out, err = run_cli(["analyze", "report", base / "pos", base / "cat", "--data", data, "--layers", LAYERS,
                              "--latents", "image_xy,category", "--width", "512", "--neural", rec, "--components", "5",
                              "--splits", "3", "--folds", "3", "--device", "cpu",
                              "--out", base / "report", "--quiet"], capsys)
    assert code == 0, err
    page = (base / "report" / "index.html").read_text()
    images = re.findall(r"<img src='([^']+)'", page)
    assert len(images) == 9  # 2 decoding, 2 CKA, RSA, 2 disentanglement, 2 neural
    for src in images:
        assert (base / "report" / src).stat().st_size > 3000, src
    rep = json.loads((base / "report" / "report.json").read_text())
    # the same numbers as the separate command on the same activations
    separate = json.loads((base / "ab-linear" / "cka.json").read_text())["matrix"] if (base / "ab-linear").is_dir() \
        else tasks.cka(base / "pos.h5", base / "cat.h5", base / "ab-check")["matrix"]
    np.testing.assert_allclose(rep["cka"]["linear"]["matrix"], separate, rtol=1e-9)
    assert set(rep["networks"]) == {"pos", "cat"} and set(rep["neural"]) == {"pos", "cat"}
    # a second report into the same directory needs --overwrite
    code, out, err = run_cli(["analyze", "report", base / "pos", base / "cat", "--data", data, "--layers", LAYERS,
                              "--device", "cpu", "--out", base / "report", "--quiet"], capsys)
    assert code == 1 and "--overwrite" in err and err.count("\n") == 1


# ---- bad input: one line each, exit 1, nothing written --------------------------------------
def _one_line_error(code, out, err, pattern):
    assert code == 1, (out, err)
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert re.search(pattern, err), err


def test_mismatched_image_sets_are_one_line(setup, capsys):
    base, data = setup
    code, out, err = run_cli(["analyze", "activations", base / "pos", "--data", data, "--split", "test",
                              "--layers", "fc", "--out", base / "test.h5", "--quiet"], capsys)
    assert code == 0, err
    _one_line_error(*run_cli(["analyze", "cka", base / "pos.h5", base / "test.h5", "--out", base / "x1"], capsys),
                    r"hold different image sets")
    assert not (base / "x1").exists()


def test_a_fixed_latent_is_one_line(setup, capsys):
    base, _ = setup
    _one_line_error(*run_cli(["analyze", "decode", base / "pos.h5", "--latents", "scale", "--out", base / "x2"], capsys),
                    r"latent 'scale' is held fixed .* latents that vary: .*image_xy.u")
    assert not (base / "x2").exists()


def test_nan_recordings_are_one_line(setup, capsys):
    base, _ = setup
    rec = recordings(base, ActivationFile(base / "pos.h5"), "fc", nan=True)
    _one_line_error(*run_cli(["analyze", "neural", base / "pos.h5", "--neural", rec, "--out", base / "x3"], capsys),
                    r"NaN")
    assert not (base / "x3").exists()


def test_too_few_images_for_debiased_cka_and_a_folder_without_latents(setup, capsys, tmp_path):
    base, _ = setup
    folder = tmp_path / "stimuli"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(folder / f"img{i}.png")
    code, out, err = run_cli(["analyze", "activations", base / "pos", "--data", folder, "--layers", "fc",
                              "--out", tmp_path / "f.h5", "--quiet"], capsys)
    assert code == 0, err
    f = ActivationFile(tmp_path / "f.h5")
    assert f.stimulus_id == ["img0.png", "img1.png", "img2.png"]
    _one_line_error(*run_cli(["analyze", "cka", tmp_path / "f.h5", tmp_path / "f.h5", "--kind", "debiased",
                              "--out", tmp_path / "c"], capsys), r"at least 4")
    _one_line_error(*run_cli(["analyze", "decode", tmp_path / "f.h5", "--out", tmp_path / "d"], capsys),
                    r"image folder")
    _one_line_error(*run_cli(["analyze", "activations", base / "pos", "--data", folder, "--layers", "layer9",
                              "--out", tmp_path / "g.h5"], capsys), r"no layer 'layer9'")
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists() and not (tmp_path / "g.h5").exists()


def test_bad_neural_input_and_a_failed_report_leave_nothing(setup, capsys, tmp_path):
    base, data = setup
    acts = ActivationFile(base / "pos.h5")
    flat = tmp_path / "flat.nc"
    xr.DataArray(np.ones((len(acts), 3, 2)), dims=("presentation", "neuroid", "repetition"),
                 coords={"stimulus_id": ("presentation", acts.index)}).to_netcdf(flat, engine="h5netcdf")
    _one_line_error(*run_cli(["analyze", "neural", base / "pos.h5", "--neural", flat, "--out", tmp_path / "n1"], capsys),
                    r"every neuroid responds the same")
    rec = recordings(base, acts, "fc")
    _one_line_error(*run_cli(["analyze", "neural", base / "pos.h5", "--neural", rec, "--components", "0",
                              "--out", tmp_path / "n2"], capsys), r"components must be an integer >= 1, got 0")
    nan = recordings(base, acts, "fc", nan=True)
    _one_line_error(*run_cli(["analyze", "report", base / "pos", base / "cat", "--data", data, "--neural", nan,
                              "--device", "cpu", "--out", tmp_path / "rep", "--quiet"], capsys), r"NaN")
    _one_line_error(*run_cli(["analyze", "report", base / "pos", base / "cat", "--data", data, "--latents", "scale",
                              "--layers", "fc", "--width", "64", "--device", "cpu", "--out", tmp_path / "rep",
                              "--quiet"], capsys), r"'scale' is held fixed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flat.nc"]  # no output, no temporary folder


def test_activations_of_two_different_image_folders_are_not_compared(setup, capsys, tmp_path):
    base, _ = setup
    for name, value in (("one", 10), ("two", 200)):
        (tmp_path / name).mkdir()
        for i in range(4):
            Image.fromarray(np.full((16, 16, 3), value + i, np.uint8)).save(tmp_path / name / f"img{i}.png")
        code, out, err = run_cli(["analyze", "activations", base / "pos", "--data", tmp_path / name, "--layers", "fc",
                                  "--out", tmp_path / f"{name}.h5", "--quiet"], capsys)
        assert code == 0, err
    _one_line_error(*run_cli(["analyze", "cka", tmp_path / "one.h5", tmp_path / "two.h5", "--out", tmp_path / "c"],
                             capsys), r"different image folders")
