"""Neural predictivity (latentscape.analysis.neural) on synthetic neurons with known answers:
neurons are noisy linear functions of one of three random layers, with Gaussian noise of known
variance per repetition, so the winning layer, the split-half ceiling and the score a perfect
model reaches are all known in advance."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import xarray as xr

from latentscape.analysis.neural import (
    NO_CEILING_NOTE, Recordings, align, load_recordings, neural_predictivity, pls_predictivity,
    prediction_splits, split_half_reliability)
from latentscape.errors import AnalysisError

N_IMAGES, DIMS, NEUROIDS, REPS = 400, 20, 60, 4
NOISE_VAR = 4 / 9  # per repetition; signal variance 1 -> reliability of the 4-rep mean 1 / (1 + 1/9) = 0.9
OBJECTS = np.repeat(np.arange(10), N_IMAGES // 10)


def reliability(signal_var, noise_var, reps):
    """Spearman-Brown-corrected split-half reliability of the mean of `reps` repetitions."""
    return signal_var / (signal_var + noise_var / reps)


def synthetic(seed=0, reps=REPS, noise_var=NOISE_VAR, n=N_IMAGES, neuroids=NEUROIDS):
    """Three independent random layers; neurons = standardised random projection of layer2
    (signal variance exactly 1) + i.i.d. noise per repetition; presentations in shuffled order."""
    rng = np.random.default_rng(seed)
    layers = {f"layer{i}": rng.standard_normal((n, DIMS)) for i in (1, 2, 3)}
    signal = layers["layer2"] @ rng.standard_normal((DIMS, neuroids))
    signal = (signal - signal.mean(0)) / signal.std(0)
    order = rng.permutation(n)  # recordings list the stimuli in another order than the activations
    responses = signal[order][:, :, None] + rng.normal(0, np.sqrt(noise_var), (n, neuroids, reps))
    rec = Recordings(responses, order, [f"n{i}" for i in range(neuroids)], "synthetic")
    return layers, rec


@pytest.fixture(scope="module")
def scored():
    layers, rec = synthetic()
    return rec, neural_predictivity(layers, rec, np.arange(N_IMAGES), OBJECTS)


# ---------------------------------------------------------------------------------- scores

def test_generating_layer_wins_by_a_clear_margin(scored):
    _, out = scored
    med = {k: v["median_r"] for k, v in out["layers"].items()}
    assert out["best_layer"] == "layer2"
    assert med["layer2"] > 0.9 and max(med["layer1"], med["layer3"]) < 0.1, med
    assert out["n_stimuli"] == N_IMAGES and out["n_neuroids"] == NEUROIDS and out["n_splits"] == 10
    assert out["layers"]["layer2"]["n_components"] == DIMS  # min(25, d, train rows - 1)
    assert out["stratified"] is True


def test_ceiling_matches_the_injected_noise(scored):
    _, out = scored
    expected = reliability(1.0, NOISE_VAR, REPS)  # 0.9
    assert out["ceiling"]["median"] == pytest.approx(expected, abs=0.02)
    assert len(out["ceiling"]["per_neuroid"]) == NEUROIDS
    assert min(out["ceiling"]["per_neuroid"]) > expected - 0.05


def test_perfect_features_reach_the_ceiling(scored):
    """Predicting a noisy 4-rep mean, a perfect model reaches r = sqrt(reliability); ceiled by the
    reliability that is 1 / sqrt(0.9) = 1.054 (the documented convention: not clipped to 1)."""
    _, out = scored
    rel = reliability(1.0, NOISE_VAR, REPS)
    best = out["layers"]["layer2"]
    assert best["median_r"] == pytest.approx(np.sqrt(rel), abs=0.02)
    assert 0.85 <= best["median_r_ceiled"] <= 1.1
    assert best["median_r_ceiled"] == pytest.approx(1 / np.sqrt(rel), abs=0.03)


def test_ceiled_score_is_median_of_r_over_ceiling_and_json_clean(scored):
    _, out = scored
    for v in out["layers"].values():
        ratio = np.array(v["r"]) / np.array(out["ceiling"]["per_neuroid"])
        assert v["median_r_ceiled"] == pytest.approx(float(np.median(ratio)), rel=1e-12)
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert "median over neuroids of r / ceiling" in out["note"]


def test_neuroids_without_a_positive_ceiling_are_left_out_of_the_ceiled_median():
    layers, rec = synthetic(n=100, neuroids=5, reps=2)
    resp = rec.responses.copy()
    z = np.random.default_rng(3).standard_normal(100)
    resp[:, 0, 0], resp[:, 0, 1] = z, -z + 0.3 * np.sin(np.arange(100))  # halves anti-correlated: ceiling < 0
    rec = Recordings(resp, rec.stimulus_id, rec.neuroid_id, "")
    out = neural_predictivity({"layer2": layers["layer2"]}, rec, np.arange(100), None, n_splits=2)
    ceiling, r = np.array(out["ceiling"]["per_neuroid"]), np.array(out["layers"]["layer2"]["r"])
    assert ceiling[0] < 0 and np.all(ceiling[1:] > 0.5)
    assert out["layers"]["layer2"]["median_r_ceiled"] == pytest.approx(float(np.median(r[1:] / ceiling[1:])))
    assert "(1 neuroid(s) with ceiling <= 0 or undefined left out)" in out["note"]


def test_split_half_reliability_known_values():
    rng = np.random.default_rng(1)
    signal = rng.standard_normal((500, 50, 1))
    signal = (signal - signal.mean(0)) / signal.std(0)
    noisy = signal + rng.normal(0, np.sqrt(2.0), (500, 50, 6))
    assert np.median(split_half_reliability(noisy, seed=0)) == pytest.approx(reliability(1, 2.0, 6), abs=0.03)
    noise_only = rng.standard_normal((500, 50, 4))
    assert np.median(split_half_reliability(noise_only, seed=rng)) == pytest.approx(0.0, abs=0.05)
    assert np.array_equal(split_half_reliability(noisy, seed=3), split_half_reliability(noisy, seed=3))


def test_pls_predicts_noiseless_linear_responses_exactly():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((100, 10))
    y = x @ rng.standard_normal((10, 5))
    y[:, 4] = 7.0  # a neuroid that never varies: r NaN, left out of the median
    out = pls_predictivity(x, y, OBJECTS[::4])
    assert out["r_per_split"].shape == (10, 5) and out["n_components"] == 10
    np.testing.assert_allclose(out["r"][:4], 1.0, atol=1e-9)
    assert np.isnan(out["r"][4]) and out["median_r"] == pytest.approx(1.0, abs=1e-9)
    wide = pls_predictivity(rng.standard_normal((100, 40)), y[:, :4], None, n_splits=2)
    assert wide["n_components"] == 25 and wide["stratified"] is False and "no object labels" in wide["split_note"]


def test_pls_generator_seed_is_reproducible():
    layers, rec = synthetic(n=60, neuroids=5)
    x, y = layers["layer2"][rec.stimulus_id], rec.mean_responses()
    a = pls_predictivity(x, y, None, n_splits=3, seed=np.random.default_rng(7))
    b = pls_predictivity(x, y, None, n_splits=3, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(a["r_per_split"], b["r_per_split"])
    # a Generator seed is drawn from once: every layer is scored on the same splits
    both = neural_predictivity({"a": layers["layer2"], "b": layers["layer2"].copy()}, rec, np.arange(60), None,
                               n_splits=3, seed=np.random.default_rng(7))
    assert both["layers"]["a"] == both["layers"]["b"]


def test_splits_are_stratified_by_object():
    splits, stratified, note = prediction_splits(OBJECTS, N_IMAGES, seed=0)
    assert stratified and len(splits) == 10 and "10 objects" in note
    for train, test in splits:
        assert len(test) == 40 and len(np.intersect1d(train, test)) == 0
        assert np.array_equal(np.bincount(OBJECTS[test], minlength=10), np.full(10, 4))
    lonely = OBJECTS.copy()
    lonely[0] = 99  # an object with a single image cannot be stratified
    _, stratified, note = prediction_splits(lonely, N_IMAGES, seed=0)
    assert not stratified and "1 object(s) with fewer than 2 stimuli" in note


# ---------------------------------------------------------------------------------- files

def write_nc(path, rec, *, order=("repetition", "neuroid", "presentation"), engine="h5netcdf", **kw):
    da = xr.DataArray(rec.responses, dims=("presentation", "neuroid", "repetition"),
                      coords={"stimulus_id": ("presentation", rec.stimulus_id),
                              "neuroid_id": ("neuroid", rec.neuroid_id)}).transpose(*order)
    da.to_netcdf(path, engine=engine, **kw)


def write_h5(path, rec):
    with h5py.File(path, "w") as f:
        f["responses"] = rec.responses
        ids = rec.stimulus_id
        f["stimulus_id"] = ids.astype(object) if ids.dtype.kind == "U" else ids
        f["neuroid_id"] = np.array(rec.neuroid_id, dtype=object)


def same(a: Recordings, b: Recordings):
    np.testing.assert_array_equal(a.responses, b.responses)
    np.testing.assert_array_equal(a.stimulus_id, b.stimulus_id)
    assert a.stimulus_id.dtype.kind == b.stimulus_id.dtype.kind and a.neuroid_id == b.neuroid_id


def test_netcdf_and_hdf5_give_identical_recordings(tmp_path):
    _, rec = synthetic(n=30, neuroids=4, reps=3)
    write_nc(tmp_path / "r.nc", rec)
    write_h5(tmp_path / "r.h5", rec)
    nc, h5 = load_recordings(tmp_path / "r.nc"), load_recordings(tmp_path / "r.h5")
    same(nc, rec)
    same(h5, rec)
    assert nc.has_repetitions and nc.responses.dtype == np.float64 and nc.path == str(tmp_path / "r.nc")
    np.testing.assert_allclose(nc.mean_responses(), rec.responses.mean(axis=2))


def test_netcdf3_and_a_dataset_with_several_variables(tmp_path):
    _, rec = synthetic(n=30, neuroids=4, reps=2)
    rec32 = Recordings(rec.responses, rec.stimulus_id.astype(np.int32), rec.neuroid_id, "")
    write_nc(tmp_path / "v3.nc", rec32, engine="scipy")  # NETCDF3: read back through scipy
    same(load_recordings(tmp_path / "v3.nc"), rec)
    ds = xr.Dataset({"noise_floor": ("neuroid", np.zeros(4)),
                     "responses": (("presentation", "neuroid", "repetition"), rec.responses)},
                    coords={"stimulus_id": ("presentation", rec.stimulus_id)})
    ds.to_netcdf(tmp_path / "ds.nc", engine="h5netcdf")
    loaded = load_recordings(tmp_path / "ds.nc")
    np.testing.assert_array_equal(loaded.responses, rec.responses)
    assert loaded.neuroid_id == ["0", "1", "2", "3"]


def test_image_folder_recordings_with_file_names(tmp_path):
    names = np.array([f"img_{i:03d}.png" for i in range(30)])
    rng = np.random.default_rng(4)
    rec = Recordings(rng.standard_normal((30, 3, 2)), names[::-1].copy(), ["a", "b", "c"], "")
    write_nc(tmp_path / "f.nc", rec)
    write_h5(tmp_path / "f.h5", rec)
    nc, h5 = load_recordings(tmp_path / "f.nc"), load_recordings(tmp_path / "f.h5")
    same(nc, rec)
    same(h5, rec)
    rows, resp = align(nc, names.astype(object))  # ActivationFile.image_ids: an object array of str
    assert np.array_equal(rows, np.arange(30)[::-1])
    np.testing.assert_array_equal(resp, rec.responses)


def test_repeated_presentations_are_averaged_and_no_ceiling_without_repetitions(tmp_path):
    """Brain-Score style: every stimulus shown twice as separate rows, a `time_bin` of size 1."""
    layers, rec = synthetic(n=200, neuroids=10, reps=2)
    rows2 = np.concatenate([rec.responses[:, :, 0], rec.responses[:, :, 1]])[:, :, None]
    da = xr.DataArray(rows2, dims=("presentation", "neuroid", "time_bin"),
                      coords={"stimulus_id": ("presentation", np.tile(rec.stimulus_id, 2))})
    da.to_netcdf(tmp_path / "bs.nc", engine="h5netcdf")
    flat = load_recordings(tmp_path / "bs.nc")
    assert flat.responses.shape == (400, 10) and not flat.has_repetitions
    rows, resp = align(flat, np.arange(200))
    assert np.array_equal(rows, rec.stimulus_id)
    np.testing.assert_allclose(resp, rec.mean_responses())
    out = neural_predictivity({"layer2": layers["layer2"]}, flat, np.arange(200), OBJECTS[::2], n_splits=3)
    assert out["ceiling"] is None and out["layers"]["layer2"]["median_r_ceiled"] is None
    assert NO_CEILING_NOTE in out["note"] and "400 presentations averaged into 200 stimuli" in out["note"]
    # the right layer still scores what a perfect model reaches on a noisy 2-rep mean
    assert out["layers"]["layer2"]["median_r"] == pytest.approx(np.sqrt(reliability(1, NOISE_VAR, 2)), abs=0.03)


# ---------------------------------------------------------------------------------- bad input

def test_nan_in_recordings_is_one_clear_error(tmp_path):
    _, rec = synthetic(n=30, neuroids=4, reps=2)
    bad = rec.responses.copy()
    bad[2, 1, 0] = bad[5, 0, 1] = np.nan
    bad[7, 3, 1] = np.inf
    rec_bad = Recordings(bad, rec.stimulus_id, rec.neuroid_id, "")
    write_nc(tmp_path / "nan.nc", rec_bad, order=("presentation", "neuroid", "repetition"))
    write_h5(tmp_path / "nan.h5", rec_bad)
    for name in ("nan.nc", "nan.h5"):
        with pytest.raises(AnalysisError) as e:
            load_recordings(tmp_path / name)
        msg = str(e.value)
        assert "\n" not in msg and name in msg and "3 NaN/inf value(s)" in msg
        assert "the first at (2, 1, 0) of (presentation, neuroid, repetition)" in msg


def test_missing_stimulus_id_coordinate(tmp_path):
    no_coord = xr.DataArray(np.zeros((5, 2)), dims=("presentation", "neuroid"),
                            coords={"image_id": ("presentation", np.arange(5))})  # old Brain-Score name
    no_coord.to_netcdf(tmp_path / "x.nc", engine="h5netcdf")
    with pytest.raises(AnalysisError, match=r"no `stimulus_id` coordinate along `presentation` \(coordinates: imag"):
        load_recordings(tmp_path / "x.nc")
    xr.DataArray(np.zeros((5, 2)), dims=("stimulus", "unit")).to_netcdf(tmp_path / "d.nc", engine="h5netcdf")
    with pytest.raises(AnalysisError, match=r"no variable with dimensions presentation and neuroid"):
        load_recordings(tmp_path / "d.nc")
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["responses"] = np.zeros((5, 2))
    with pytest.raises(AnalysisError, match=r"no dataset 'stimulus_id'"):
        load_recordings(tmp_path / "x.h5")


def test_unknown_suffix_and_missing_file(tmp_path):
    (tmp_path / "r.csv").write_text("1,2\n")
    with pytest.raises(AnalysisError, match=r"unknown suffix '.csv'; use one of .nc, .h5, .hdf5"):
        load_recordings(tmp_path / "r.csv")
    with pytest.raises(AnalysisError, match=r"not found \(a .nc, .h5, .hdf5 file\)"):
        load_recordings(tmp_path / "none.hdf5")


def test_stimuli_missing_from_the_images():
    rec = Recordings(np.zeros((4, 2)), np.array([0, 17, 3, 42]), ["a", "b"], "rec.nc")
    with pytest.raises(AnalysisError, match=r"2 of 4 stimulus_id value\(s\) are not among the 10 analysed images "
                                            r"\(e\.g\. \[17, 42\]\)"):
        align(rec, np.arange(10))
    with pytest.raises(AnalysisError, match=r"stimulus_id holds dataset image indices \(int\) but the analysed "
                                            r"images are identified by image file names"):
        align(rec, np.array(["a.png", "b.png"]))


def test_too_few_stimuli_and_bad_features():
    rng = np.random.default_rng(5)
    with pytest.raises(AnalysisError, match=r"15 stimuli are too few for 10 splits holding out 0.1: need at least 21"):
        pls_predictivity(rng.standard_normal((15, 3)), rng.standard_normal((15, 2)), None)
    rec = Recordings(rng.standard_normal((30, 2)), np.arange(30), ["a", "b"], "")
    nan_features = np.ones((30, 4))
    nan_features[3, 1] = np.nan
    with pytest.raises(AnalysisError, match=r"layer 'conv2': 1 NaN/inf feature value\(s\)"):
        neural_predictivity({"conv2": nan_features}, rec, np.arange(30), None)
    with pytest.raises(AnalysisError, match=r"layer 'conv1': features of shape \(29, 4\); expected \(30, d\)"):
        neural_predictivity({"conv1": np.zeros((29, 4))}, rec, np.arange(30), None)


def test_split_half_needs_two_repetitions():
    with pytest.raises(AnalysisError, match=r"at least 2 repetitions; got shape \(30, 4, 1\)"):
        split_half_reliability(np.zeros((30, 4, 1)))
    with pytest.raises(AnalysisError, match=r"no repetition axis"):
        split_half_reliability(np.zeros((30, 4)))
