"""Neural predictivity: how well a layer's activations predict recorded neural responses.

Recordings are a NetCDF file (.nc, an xarray DataArray or Dataset) or an HDF5 file (.h5, .hdf5)
holding responses presentation x neuroid, optionally x repetition, and a `stimulus_id` per
presentation: the dataset's global image index (int), or the file name for an image folder.

Conventions (Brain-Score's, so that numbers are comparable):

* Score: PLSRegression(n_components=min(25, d, train rows - 1), scale=False) from a layer's
  features to the responses averaged over repetitions; 10 shuffle splits of 90/10 stratified by
  object; Pearson r per neuroid on the held-out stimuli; r per neuroid = mean over splits; the
  layer's score = median over neuroids. A neuroid whose held-out responses (or predictions) do
  not vary has r NaN in that split; it is left out of the mean over splits and, if NaN in every
  split, of the median (nanmedian).
* Ceiling (only with >= 2 repetitions): split-half reliability per neuroid: the repetitions are
  split into two random halves, each half averaged, Pearson r across stimuli; r is averaged over
  10 random halvings, then Spearman-Brown corrected (2r / (1 + r)), which estimates the
  reliability of the mean over all repetitions.
* Ceiled score = median over neuroids of r / ceiling, neuroids with ceiling <= 0 (or NaN) left
  out; nothing is clipped. Because r is measured against a noisy mean of repetitions, a perfect
  noiseless model reaches r = sqrt(ceiling), hence a ceiled score of up to 1 / sqrt(ceiling) > 1.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentscape.errors import AnalysisError, first_line

SUFFIXES = (".nc", ".h5", ".hdf5")
MIN_STIMULI = 20        # the floor for 10 splits of 90/10
MIN_TEST_STIMULI = 3    # a Pearson r over 2 held-out stimuli is always +-1
NO_CEILING_NOTE = ("no repetitions: no ceiling (the recordings hold one response per stimulus and neuroid; "
                   "give them a `repetition` dimension for a split-half ceiling)")


@dataclass(frozen=True, eq=False)  # eq=False: arrays make field-wise == ambiguous
class Recordings:
    """Recorded responses, (n_presentations, n_neuroids) or (n_presentations, n_neuroids,
    n_repetitions) float64, with the stimulus of each presentation (`stimulus_id`: int dataset
    image indices or str file names), the neuroid names and the file they came from.
    Several presentations of one stimulus (rows with the same stimulus_id) are allowed:
    `align` averages them."""

    responses: np.ndarray
    stimulus_id: np.ndarray
    neuroid_id: list[str]
    path: str

    @property
    def has_repetitions(self) -> bool:
        """True when there is a repetition axis of at least 2 (a ceiling can be computed)."""
        return self.responses.ndim == 3 and self.responses.shape[2] >= 2

    def mean_responses(self) -> np.ndarray:
        """(n_presentations, n_neuroids): the mean over repetitions."""
        return self.responses.mean(axis=2) if self.responses.ndim == 3 else self.responses


# ---------------------------------------------------------------------------------- loading

def load_recordings(path) -> Recordings:
    """Read recordings from `.nc` (NetCDF 3 or 4, any engine xarray has) or `.h5`/`.hdf5`.

    NetCDF: the variable `responses`, else the first data variable with dimensions `presentation`
    and `neuroid` (plus optional `repetition`, in any order; other dimensions must have size 1,
    such as Brain-Score's `time_bin`), a `stimulus_id` coordinate along `presentation` and
    optionally `neuroid_id` along `neuroid`. HDF5: datasets `responses` (presentation, neuroid
    [, repetition]), `stimulus_id` (ints or strings) and optionally `neuroid_id`.
    Raises AnalysisError for a missing file, another suffix, a bad layout or NaN/inf values."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise AnalysisError(f"recordings {path}: unknown suffix {path.suffix or '(none)'!r}; "
                            f"use one of {', '.join(SUFFIXES)}")
    if not path.is_file():
        raise AnalysisError(f"recordings {path} not found (a {', '.join(SUFFIXES)} file)")
    if path.suffix.lower() == ".nc":
        responses, stimulus_id, neuroid_id = _read_netcdf(path)
    else:
        responses, stimulus_id, neuroid_id = _read_hdf5(path)
    return _build(path, responses, stimulus_id, neuroid_id)


def _read_netcdf(path: Path):
    try:
        import xarray as xr
    except ImportError:
        raise AnalysisError(f"reading {path} needs xarray (pip install xarray h5netcdf)") from None
    try:
        ds = xr.open_dataset(path)  # xarray picks the engine: scipy (NetCDF3), netCDF4 / h5netcdf
    except (OSError, ValueError) as e:
        reason = first_line(e)  # xarray appends lines of links
        raise AnalysisError(f"recordings {path} cannot be read as NetCDF ({reason})") from None
    with ds:
        da = _pick_variable(ds, path)
        extra = [d for d in da.dims if d not in ("presentation", "neuroid", "repetition")]
        if any(da.sizes[d] != 1 for d in extra):
            raise AnalysisError(f"recordings {path}: variable {da.name!r} has dimensions {tuple(da.dims)}; "
                                f"allowed are presentation, neuroid, repetition (others only of size 1)")
        da = da.squeeze(extra, drop=True)
        da = da.transpose("presentation", "neuroid", *(["repetition"] if "repetition" in da.dims else []))
        if "stimulus_id" not in da.coords or da.coords["stimulus_id"].dims != ("presentation",):
            raise AnalysisError(f"recordings {path}: no `stimulus_id` coordinate along `presentation` "
                                f"(coordinates: {', '.join(map(str, da.coords)) or 'none'}); it must hold the "
                                f"dataset image index or image file name of each presentation")
        neuroid = da.coords["neuroid_id"].values if "neuroid_id" in da.coords else None
        if neuroid is not None and da.coords["neuroid_id"].dims != ("neuroid",):
            neuroid = None
        return np.asarray(da.values), da.coords["stimulus_id"].values, neuroid


def _pick_variable(ds, path: Path):
    need = {"presentation", "neuroid"}
    if "responses" in ds.data_vars and need <= set(ds["responses"].dims):
        return ds["responses"]
    for var in ds.data_vars.values():
        if need <= set(var.dims):
            return var
    found = ", ".join(f"{k}{tuple(v.dims)}" for k, v in ds.data_vars.items()) or "none"
    raise AnalysisError(f"recordings {path}: no variable with dimensions presentation and neuroid "
                        f"(data variables: {found})")


def _read_hdf5(path: Path):
    import h5py
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("responses", "stimulus_id") if k not in f]
            if missing:
                raise AnalysisError(f"recordings {path}: no dataset {missing[0]!r} (datasets: "
                                    f"{', '.join(f.keys()) or 'none'}); an HDF5 recording holds `responses` "
                                    f"(presentation, neuroid[, repetition]) and `stimulus_id`")
            groups = [k for k in ("responses", "stimulus_id", "neuroid_id") if k in f and not isinstance(f[k], h5py.Dataset)]
            if groups:
                raise AnalysisError(f"recordings {path}: {groups[0]!r} is an HDF5 group, not a dataset (array)")
            neuroid = f["neuroid_id"][()] if "neuroid_id" in f else None
            return f["responses"][()], f["stimulus_id"][()], neuroid
    except OSError as e:
        raise AnalysisError(f"recordings {path} cannot be read as HDF5 ({e})") from None


def _build(path: Path, responses, stimulus_id, neuroid_id) -> Recordings:
    responses = np.asarray(responses)
    if responses.ndim not in (2, 3) or responses.shape[0] == 0 or responses.shape[1] == 0:
        raise AnalysisError(f"recordings {path}: responses have shape {responses.shape}; expected "
                            f"(presentation, neuroid) or (presentation, neuroid, repetition), none empty")
    if responses.dtype.kind not in "iuf":
        raise AnalysisError(f"recordings {path}: responses are of type {responses.dtype}; expected numbers")
    responses = responses.astype(np.float64)
    bad = ~np.isfinite(responses)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        axes = ", ".join(("presentation", "neuroid", "repetition")[:responses.ndim])
        raise AnalysisError(f"recordings {path}: {int(bad.sum())} NaN/inf value(s) in responses (the first at "
                            f"{first} of ({axes})); drop or impute them before the analysis")
    stimulus_id = _as_ids(np.asarray(stimulus_id).ravel(), f"recordings {path}: stimulus_id")
    if len(stimulus_id) != responses.shape[0]:
        raise AnalysisError(f"recordings {path}: {len(stimulus_id)} stimulus_id values for "
                            f"{responses.shape[0]} presentations; give one per presentation")
    n = responses.shape[1]
    names = [str(i) for i in range(n)] if neuroid_id is None else [
        s.decode() if isinstance(s, bytes) else str(s) for s in np.asarray(neuroid_id).ravel()]
    if len(names) != n:
        raise AnalysisError(f"recordings {path}: {len(names)} neuroid_id values for {n} neuroids")
    return Recordings(responses, stimulus_id, names, str(path))


def _as_ids(ids: np.ndarray, what: str) -> np.ndarray:
    """int64 image indices or a str array of file names (bytes decoded, integral floats kept as ints,
    since NetCDF 3 and some writers store indices as floats)."""
    if ids.dtype.kind in "iu":
        return ids.astype(np.int64)
    if ids.dtype.kind == "f":
        if np.all(np.isfinite(ids)) and np.all(ids == np.round(ids)):
            return ids.astype(np.int64)
        raise AnalysisError(f"{what} holds non-integral numbers (e.g. {ids[ids != np.round(ids)][:1]}); "
                            f"expected dataset image indices (int) or image file names (str)")
    strs = [s.decode() if isinstance(s, bytes) else s for s in ids.tolist()]
    if not all(isinstance(s, str) for s in strs):
        kinds = sorted({type(s).__name__ for s in strs})
        raise AnalysisError(f"{what} mixes value types ({', '.join(kinds)}); expected all int or all str")
    return np.array(strs, dtype=str)


# ---------------------------------------------------------------------------------- alignment

def align(recordings: Recordings, image_ids) -> tuple[np.ndarray, np.ndarray]:
    """Match recorded stimuli to the analysed images.

    `image_ids` identifies the analysed images in activation-row order (int dataset indices, or
    str file names for an image folder). Returns `rows` (m,) into the activation rows, one per
    distinct stimulus in order of first presentation, and the responses of those stimuli,
    (m, neuroids[, repetitions]); presentations of the same stimulus are averaged.
    Every stimulus must be among the images, else AnalysisError."""
    image_ids = _as_ids(np.asarray(image_ids).ravel(), "image_ids")
    stim = recordings.stimulus_id
    if (stim.dtype.kind == "U") != (image_ids.dtype.kind == "U"):
        kind = {True: "image file names (str)", False: "dataset image indices (int)"}
        raise AnalysisError(f"recordings {recordings.path}: stimulus_id holds {kind[stim.dtype.kind == 'U']} but "
                            f"the analysed images are identified by {kind[image_ids.dtype.kind == 'U']}; "
                            f"use recordings made for this --data")
    row_of = {v: i for i, v in enumerate(image_ids.tolist())}
    if len(row_of) != len(image_ids):
        raise AnalysisError(f"image_ids hold {len(image_ids) - len(row_of)} duplicate(s); each analysed image "
                            f"must appear once")
    uniq, first, inverse = np.unique(stim, return_index=True, return_inverse=True)
    missing = [v for v in uniq[np.argsort(first)].tolist() if v not in row_of]
    if missing:
        raise AnalysisError(f"recordings {recordings.path}: {len(missing)} of {len(uniq)} stimulus_id value(s) are "
                            f"not among the {len(image_ids)} analysed images (e.g. {missing[:5]}); extract "
                            f"activations for the images the recordings used")
    order = np.argsort(first)  # distinct stimuli in order of first presentation
    sums = np.zeros((len(uniq),) + recordings.responses.shape[1:])
    np.add.at(sums, inverse.ravel(), recordings.responses)
    counts = np.bincount(inverse.ravel(), minlength=len(uniq)).reshape((-1,) + (1,) * (sums.ndim - 1))
    rows = np.array([row_of[v] for v in uniq[order].tolist()], dtype=np.int64)
    return rows, (sums / counts)[order]


# ---------------------------------------------------------------------------------- statistics

def pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between matching columns of two (m, k) arrays; NaN where a column is constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    constant = (np.ptp(a, axis=0) == 0) | (np.ptp(b, axis=0) == 0)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    r[constant] = np.nan
    return np.clip(r, -1.0, 1.0)


def split_half_reliability(responses_with_reps: np.ndarray, seed=0, n_splits: int = 10) -> np.ndarray:
    """Per-neuroid reliability of the mean over all repetitions, from (stimuli, neuroids,
    repetitions) responses: in each of `n_splits` random halvings (seed: int or
    numpy.random.Generator) the repetitions are split into halves (sizes floor and ceil of R/2),
    each half averaged, and Pearson r taken across stimuli; the mean r over halvings is
    Spearman-Brown corrected, 2r / (1 + r). NaN for a neuroid that does not vary."""
    x = np.asarray(responses_with_reps, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] < 2:
        reps = x.shape[2] if x.ndim == 3 else "no repetition axis"
        raise AnalysisError(f"split-half reliability needs responses (stimuli, neuroids, repetitions) with at "
                            f"least 2 repetitions; got shape {x.shape} ({reps})")
    if x.shape[0] < 3 or not np.all(np.isfinite(x)):
        raise AnalysisError(f"split-half reliability needs at least 3 stimuli and finite responses; got "
                            f"{x.shape[0]} stimuli, {int((~np.isfinite(x)).sum())} NaN/inf value(s)")
    if n_splits < 1:
        raise AnalysisError(f"n_splits must be >= 1; got {n_splits}")
    rng = np.random.default_rng(seed)
    half = x.shape[2] // 2
    rs = []
    for _ in range(n_splits):
        perm = rng.permutation(x.shape[2])
        rs.append(pearson_columns(x[:, :, perm[:half]].mean(axis=2), x[:, :, perm[half:]].mean(axis=2)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neuroids stay NaN
        r = np.nanmean(rs, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 2 * r / (1 + r)


def prediction_splits(groups, n: int, *, n_splits: int = 10, test_size: float = 0.1,
                      seed=0) -> tuple[list[tuple[np.ndarray, np.ndarray]], bool, str]:
    """`n_splits` (train rows, test rows) pairs over `n` stimuli: StratifiedShuffleSplit over
    `groups` (object labels) when every object has >= 2 stimuli and the test and train parts can
    hold one of each, else ShuffleSplit. Returns (splits, stratified, note)."""
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
    state = _sklearn_seed(seed)
    x = np.zeros((n, 1))
    if groups is None:
        reason = "no object labels"
    else:
        labels, counts = np.unique(np.asarray(groups), return_counts=True)
        n_test = math.ceil(test_size * n)
        if counts.min() < 2:
            reason = f"{int((counts < 2).sum())} object(s) with fewer than 2 stimuli"
        elif n_test < len(labels) or n - n_test < len(labels):
            reason = f"{len(labels)} objects do not fit in {n_test} test / {n - n_test} train stimuli"
        else:
            sss = StratifiedShuffleSplit(n_splits=n_splits, test_size=test_size, random_state=state)
            return list(sss.split(x, np.asarray(groups))), True, f"stratified by object ({len(labels)} objects)"
    ss = ShuffleSplit(n_splits=n_splits, test_size=test_size, random_state=state)
    return list(ss.split(x)), False, f"not stratified: {reason}"


def pls_predictivity(features, responses, groups, *, n_components: int = 25, n_splits: int = 10,
                     test_size: float = 0.1, seed=0) -> dict:
    """Cross-validated PLS regression from `features` (m, d) to `responses` (m, neuroids).

    `groups` (m,) are object labels for stratified splits (None: plain shuffle splits). Returns
    `r_per_split` (n_splits, neuroids), `r` (neuroids; mean over splits, NaN splits left out),
    `median_r` (nanmedian over neuroids), `n_components` (the number used), `stratified` and
    `split_note`. seed: int or numpy.random.Generator."""
    from sklearn.cross_decomposition import PLSRegression
    if not isinstance(n_components, int) or isinstance(n_components, bool) or n_components < 1:
        raise AnalysisError(f"PLS components must be an integer >= 1, got {n_components!r}")
    x, y = _check_xy(features, responses, groups, n_splits, test_size)
    if not np.any(x.std(axis=0) > 0):
        raise AnalysisError("the features are the same for every stimulus (a dead layer): nothing to regress from")
    if not np.any(y.std(axis=0) > 0):
        raise AnalysisError("every neuroid responds the same to every stimulus: nothing to predict")
    splits, stratified, note = prediction_splits(groups, len(x), n_splits=n_splits, test_size=test_size, seed=seed)
    k = min(n_components, x.shape[1], min(len(tr) for tr, _ in splits) - 1)
    r = np.empty((n_splits, y.shape[1]))
    for i, (train, test) in enumerate(splits):
        pls = PLSRegression(n_components=k, scale=False)
        with warnings.catch_warnings():
            # y fully explained before k components (low-rank responses): PLS stops early, as it should
            warnings.filterwarnings("ignore", message="y residual is constant")
            pls.fit(x[train], y[train])
        r[i] = pearson_columns(pls.predict(x[test]).reshape(len(test), -1), y[test])
    r_mean = _nan_stat(np.nanmean, r, axis=0)
    return {"r_per_split": r, "r": r_mean, "median_r": float(_nan_stat(np.nanmedian, r_mean)),
            "n_components": int(k), "stratified": stratified, "split_note": note}


def _check_xy(features, responses, groups, n_splits, test_size):
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(responses, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise AnalysisError(f"features must be (stimuli, d) and responses (stimuli, neuroids) with the same "
                            f"stimuli; got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise AnalysisError(f"features and responses must be finite; they hold {int((~np.isfinite(x)).sum())} "
                            f"and {int((~np.isfinite(y)).sum())} NaN/inf value(s)")
    if groups is not None and len(groups) != len(x):
        raise AnalysisError(f"groups has {len(groups)} labels for {len(x)} stimuli; give one object per stimulus")
    if not 0 < test_size < 1 or n_splits < 1:
        raise AnalysisError(f"test_size must be in (0, 1) and n_splits >= 1; got {test_size} and {n_splits}")
    need = MIN_STIMULI
    while math.ceil(test_size * need) < MIN_TEST_STIMULI:
        need += 1
    if len(x) < need:
        raise AnalysisError(f"{len(x)} stimuli are too few for {n_splits} splits holding out {test_size:g}: "
                            f"need at least {need} (>= {MIN_TEST_STIMULI} held out per split)")
    return x, y


def _nan_stat(fn, a, axis=None):
    """fn (nanmean / nanmedian) that returns NaN quietly for all-NaN input."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(a, axis=axis)


def _sklearn_seed(seed) -> int:
    """scikit-learn takes an int or a RandomState, not a Generator: draw an int from it."""
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**32 - 1))
    return int(seed)


# ---------------------------------------------------------------------------------- the analysis

def neural_predictivity(layer_features: dict[str, np.ndarray], recordings: Recordings, image_ids, groups, *,
                        n_components: int = 25, n_splits: int = 10, seed=0) -> dict:
    """Score every layer against the recordings (see the module docstring for the conventions).

    `layer_features` maps layer names to (n_images, d) features whose rows follow `image_ids`;
    `groups` (n_images,) are the images' object labels (None: unstratified). Returns a JSON-able
    dict (NaN written as None): `layers` {name: {median_r, median_r_ceiled (None without a
    ceiling), r (per neuroid), n_components}}, `best_layer`, `ceiling` ({median, per_neuroid}, or
    None without repetitions), `note`, `n_stimuli`, `n_neuroids`, `n_components`, `n_splits`,
    `stratified`, `split_note`. Every layer is scored on the same splits (seed: int or
    numpy.random.Generator)."""
    image_ids = np.asarray(image_ids).ravel()
    _check_layers(layer_features, image_ids, groups)
    rows, resp = align(recordings, image_ids)
    mean = resp.mean(axis=2) if resp.ndim == 3 else resp
    g = None if groups is None else np.asarray(groups)[rows]
    seed = _sklearn_seed(seed)  # one int for all layers: every layer is scored on the same splits
    scores = {name: pls_predictivity(np.asarray(f)[rows], mean, g, n_components=n_components,
                                     n_splits=n_splits, seed=seed) for name, f in layer_features.items()}
    ceiling = split_half_reliability(resp, seed=seed, n_splits=n_splits) if recordings.has_repetitions else None
    layers = {name: {"median_r": _json(sc["median_r"]), "median_r_ceiled": _ceiled(sc["r"], ceiling),
                     "r": [_json(v) for v in sc["r"]], "n_components": sc["n_components"]}
              for name, sc in scores.items()}
    any_score = next(iter(scores.values()))
    return {"layers": layers, "best_layer": _best(layers),
            "ceiling": None if ceiling is None else {"median": _json(_nan_stat(np.nanmedian, ceiling)),
                                                     "per_neuroid": [_json(v) for v in ceiling]},
            "note": _note(recordings, resp, ceiling, n_splits), "n_stimuli": len(rows),
            "n_neuroids": int(mean.shape[1]), "n_components": n_components, "n_splits": n_splits,
            "stratified": any_score["stratified"], "split_note": any_score["split_note"]}


def _check_layers(layer_features: dict, image_ids: np.ndarray, groups) -> None:
    if not layer_features:
        raise AnalysisError("neural_predictivity needs at least one layer's features")
    for name, f in layer_features.items():
        f = np.asarray(f)
        if f.ndim != 2 or len(f) != len(image_ids):
            raise AnalysisError(f"layer {name!r}: features of shape {f.shape}; expected ({len(image_ids)}, d), "
                                f"one row per image id")
        if not np.all(np.isfinite(f)):
            raise AnalysisError(f"layer {name!r}: {int((~np.isfinite(f)).sum())} NaN/inf feature value(s); "
                                f"features must be finite")
    if groups is not None and len(groups) != len(image_ids):
        raise AnalysisError(f"groups has {len(groups)} labels for {len(image_ids)} images; give one per image")


def _ceiled(r: np.ndarray, ceiling: np.ndarray | None) -> float | None:
    if ceiling is None:
        return None
    ok = np.isfinite(ceiling) & (ceiling > 0)
    return _json(_nan_stat(np.nanmedian, r[ok] / ceiling[ok])) if ok.any() else None


def _best(layers: dict) -> str | None:
    scored = [(v["median_r"], k) for k, v in layers.items() if v["median_r"] is not None]
    return max(scored, key=lambda t: t[0])[1] if scored else None


def _note(recordings: Recordings, resp: np.ndarray, ceiling, n_splits: int) -> str:
    parts = []
    if len(recordings.stimulus_id) != len(resp):
        parts.append(f"{len(recordings.stimulus_id)} presentations averaged into {len(resp)} stimuli")
    if ceiling is None:
        parts.append(NO_CEILING_NOTE)
    else:
        dropped = int((~(np.isfinite(ceiling) & (ceiling > 0))).sum())
        parts.append(f"ceiling: split-half reliability over {resp.shape[2]} repetitions, mean r of {n_splits} "
                     f"random halvings, Spearman-Brown corrected; ceiled = median over neuroids of r / ceiling "
                     f"({dropped} neuroid(s) with ceiling <= 0 or undefined left out)")
    return "; ".join(parts)


def _json(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None
