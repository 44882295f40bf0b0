"""One function per `latentscape analyze` command: read inputs, run the statistic, write JSON +
CSV + PNG into the output directory, return a summary dict. The CLI is a thin layer over these.

    from latentscape.analysis import tasks
    tasks.activations("runs/pose", "data", "acts.h5")
    tasks.decode("acts.h5", "decode/", latents=["position", "pose", "category"])
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from latentscape.analysis.actfile import ActivationFile, common_rows
from latentscape.analysis.outputs import OutDir
from latentscape.errors import AnalysisError


def activations(network, data, out, *, layers=None, split: str | None = None, reduce: str = "project",
                width: int = 2048, seed: int = 0, batch_size: int = 64, device: str = "auto", weights=None,
                input_size: int | None = None, num_workers: int = 0, overwrite: bool = False,
                progress: bool = False) -> dict:
    """Activations of `layers` of `network` (a training run or an architecture name) on the
    images of `data` (a dataset, optionally one split part, or a folder of images) -> `out` (.h5)."""
    from latentscape.analysis.activations import check_device, extract
    from latentscape.analysis.images import open_images
    from latentscape.analysis.networks import load_network
    from latentscape.outpaths import check_output_file
    out = check_output_file(out, overwrite=overwrite, suffixes=(".h5", ".hdf5"), what="activation file")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise AnalysisError(f"batch size must be an integer >= 1, got {batch_size!r}")
    if not isinstance(num_workers, int) or num_workers < 0:
        raise AnalysisError(f"--num-workers must be an integer >= 0, got {num_workers!r}")
    if input_size is not None and (not isinstance(input_size, int) or input_size < 8):
        raise AnalysisError(f"--input-size must be an integer >= 8, got {input_size!r}")
    dev = check_device(device)
    net = load_network(network, weights=weights, input_size=input_size)
    layers = net.check_layers(layers)
    src = open_images(data, split, size=net.input_size, num_workers=num_workers)
    bar = _bar(src.n, "activations", "img") if progress else None
    try:
        path = extract(net, src.batches(batch_size), src.n, out, layers=layers, reduce=reduce, width=width,
                       seed=seed, device=dev, meta={"network": net.source, **src.meta},
                       stimulus_ids=src.stimulus_ids, progress=bar.update if bar else None)
    finally:
        if bar:
            bar.close()
    f = ActivationFile(path)
    return {"path": str(path), "n": len(f), "layers": {k: f.widths[k] for k in f.layers}, "network": net.source}


def _latents(f: ActivationFile, data):
    """(dataset, its latents of the images of `f`), read once."""
    from latentscape.analysis.factors import latent_table
    data = data or f.data
    if data is None or f.stimulus_id is not None:
        raise AnalysisError(f"{f.path} was extracted from an image folder; latents need a latentscape dataset")
    return data, latent_table(data, f.index, spec_hash=f.meta.get("spec_hash"))


def decode(acts, out, *, data=None, latents=None, layers=None, folds: int = 5, repeats: int = 1,
           hold_out: str = "images", seed: int = 0, overwrite: bool = False, progress: bool = False) -> dict:
    """Layer x latent linear decoding -> decode.json, decode.csv, decode.png."""
    from latentscape.analysis import decode as dec
    from latentscape.analysis import figures
    o = OutDir(out, ["decode.json", "decode.csv", "decode.png"], overwrite)
    f = ActivationFile(acts)
    layers = f.check_layers(layers)
    data, table = _latents(f, data)
    factors = table.factors(latents)
    if hold_out == "objects" and latents is None:  # identity cannot be read out of unseen objects
        factors = [x for x in factors if x.name != "object_id"]
    objects = table.factors(["object_id"], allow_fixed=True)[0].values if hold_out == "objects" else None
    bar = _bar(len(layers), "decode", "layer") if progress else None
    try:
        scores = dec.decode({k: f.features(k) for k in layers}, factors, folds=folds, repeats=repeats,
                            hold_out=hold_out, objects=objects, seed=seed, progress=bar.update if bar else None)
    finally:
        if bar:
            bar.close()
    rows = [s.to_dict() for s in scores]
    result = {"activations": str(f.path), "data": str(data), "n": len(f), "folds": folds, "repeats": repeats,
              "hold_out": hold_out, "seed": seed, "network": f.meta.get("network"), "scores": rows}
    o.json("decode.json", result)
    o.csv("decode.csv", rows)
    figures.decode_heatmap(scores, o.file("decode.png"), title=f"Linear decoding: {_name(f)}")
    return {**result, "out": str(o.path)}


def cka(acts_a, acts_b, out, *, kind: str = "linear", layers_a=None, layers_b=None, threshold: float = 1.0,
        permutations: int = 0, seed: int = 0, overwrite: bool = False) -> dict:
    """Layer x layer CKA between two activation files of the same images -> cka.json, cka.csv,
    cka.png (and permutation p-values with `permutations` > 0)."""
    from latentscape.analysis import cka as ck
    from latentscape.analysis import figures
    if kind not in ck.KINDS:
        raise AnalysisError(f"unknown CKA kind {kind!r}; allowed: {', '.join(ck.KINDS)}")
    o = OutDir(out, ["cka.json", "cka.csv", "cka.png"], overwrite)
    a, b = ActivationFile(acts_a), ActivationFile(acts_b)
    ra, rb = common_rows(a, b)
    la, lb = a.check_layers(layers_a), b.check_layers(layers_b)
    fa, fb = a.load(la, ra), b.load(lb, rb)
    m = ck.cka_matrix(fa, fb, kind=kind, threshold=threshold)
    rows = [{"layer_a": x, "layer_b": y, "cka": float(m[i, j])} for i, x in enumerate(la) for j, y in enumerate(lb)]
    if permutations:
        rng = np.random.default_rng(seed)
        for r in rows:
            t = ck.cka_permutation_test(fa[r["layer_a"]], fb[r["layer_b"]], kind=kind, n_permutations=permutations,
                                        rng=rng, threshold=threshold)
            r.update(p_value=t["p_value"], null_mean=t["null_mean"])
    result = {"a": str(a.path), "b": str(b.path), "network_a": a.meta.get("network"), "network_b": b.meta.get("network"),
              "kind": kind, "threshold": threshold if kind == "rbf" else None, "n": len(ra), "layers_a": la,
              "layers_b": lb, "matrix": m, "permutations": permutations, "cells": rows}
    o.json("cka.json", result)
    o.csv("cka.csv", rows)
    figures.cka_heatmap(m, la, lb, o.file("cka.png"), name_a=_name(a), name_b=_name(b), kind=kind)
    return {**result, "out": str(o.path)}


def disentanglement(acts, out, *, data=None, latents=None, layers=None, seed: int = 0,
                    overwrite: bool = False, progress: bool = False) -> dict:
    """DCI (disentanglement, completeness, informativeness), MIG and SAP of every layer with
    respect to the latents -> disentanglement.json, .csv, .png. Angles enter as (sin, cos)."""
    from latentscape.analysis import figures
    from latentscape.analysis.disentangle import disentanglement_scores
    o = OutDir(out, ["disentanglement.json", "disentanglement.csv", "disentanglement.png"], overwrite)
    f = ActivationFile(acts)
    layers = f.check_layers(layers)
    data, table = _latents(f, data)
    cols, names, discrete = factor_matrix(table.factors(latents))
    bar = _bar(len(layers), "disentanglement", "layer") if progress else None
    per_layer, rows = {}, []
    try:
        for k in layers:
            s = disentanglement_scores(f.features(k), cols, discrete, seed=seed)
            per_layer[k] = _name_columns(s, names)
            rows.append({"layer": k, **{m: per_layer[k][m] for m in METRICS}})
            if bar:
                bar.update(1)
    finally:
        if bar:
            bar.close()
    result = {"activations": str(f.path), "data": str(data), "n": len(f), "factors": names, "discrete": discrete,
              "network": f.meta.get("network"), "layers": per_layer}
    o.json("disentanglement.json", result)
    o.csv("disentanglement.csv", rows)
    figures.heatmap([[r[m] for m in METRICS] for r in rows], layers, list(METRICS), o.file("disentanglement.png"),
                    title=f"Disentanglement: {_name(f)}", xlabel="metric", ylabel="layer", colorbar="score")
    return {**result, "out": str(o.path)}


METRICS = ("dci.disentanglement", "dci.completeness", "dci.informativeness", "mig", "sap")


def factor_matrix(factors) -> tuple[np.ndarray, list[str], list[bool]]:
    """(n, k) factor values, their names, discrete flags; an angle becomes .sin and .cos columns."""
    cols = {k: v for fac in factors for k, v in fac.columns().items()}
    discrete = [fac.discrete for fac in factors for _ in fac.columns()]
    return np.stack([v.astype(np.float64) for v in cols.values()], axis=1), list(cols), discrete


def _name_columns(scores: dict, names: list[str]) -> dict:
    """Per-factor keys `<metric>.<j>` -> `<metric>.<factor name>`."""
    out = {}
    for key, v in scores.items():
        head, _, tail = key.rpartition(".")
        out[f"{head}.{names[int(tail)]}" if tail.isdigit() and head else key] = v
    return out


def neural(acts, recordings, out, *, data=None, layers=None, n_components: int = 25, splits: int = 10,
           seed: int = 0, overwrite: bool = False, progress: bool = False) -> dict:
    """PLS neural predictivity of every layer for recorded responses -> neural.json, neural.csv,
    neural.png (median Pearson r per layer, raw and ceiled)."""
    from latentscape.analysis import figures
    from latentscape.analysis.factors import read_factors
    from latentscape.analysis.neural import load_recordings, neural_predictivity
    o = OutDir(out, ["neural.json", "neural.csv", "neural.png"], overwrite)
    f = ActivationFile(acts)
    layers = f.check_layers(layers)
    rec = load_recordings(recordings)
    groups = None
    if f.stimulus_id is None:
        data = data or f.data
        groups = read_factors(data, f.index, ["object_id"], spec_hash=f.meta.get("spec_hash"),
                              allow_fixed=True)[0].values
    res = neural_predictivity({k: f.features(k) for k in layers}, rec, f.image_ids, groups,
                              n_components=n_components, n_splits=splits, seed=seed)
    rows = [{"layer": k, "median_r": v["median_r"], "median_r_ceiled": v.get("median_r_ceiled")}
            for k, v in res["layers"].items()]
    result = {"activations": str(f.path), "recordings": str(rec.path), "network": f.meta.get("network"),
              "stratified_by_object": bool(res.get("stratified")), **res}
    o.json("neural.json", result)
    o.csv("neural.csv", rows)
    series = {"raw median r": [r["median_r"] for r in rows]}
    if res.get("ceiling") is not None:
        series["ceiled (r / split-half ceiling)"] = [r["median_r_ceiled"] for r in rows]
    figures.layer_curves(series, layers, o.file("neural.png"), title=f"Neural predictivity: {_name(f)}",
                         ylabel="median Pearson r over neuroids")
    return {**result, "out": str(o.path)}


def _name(f: ActivationFile) -> str:
    net = f.meta.get("network") or {}
    return str(net.get("name") or Path(f.path).stem)


def _bar(total, desc, unit):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, disable=None)


def rsa(acts_a, acts_b, out, *, layers_a=None, layers_b=None, metric: str = "correlation",
        method: str = "spearman", overwrite: bool = False) -> dict:
    """Layer x layer RSA: RDMs (1 - Pearson r between images' activation patterns) compared by
    Spearman correlation -> rsa.json, rsa.csv, rsa.png."""
    from latentscape.analysis import figures
    from latentscape.analysis.rsa import rsa_matrix
    o = OutDir(out, ["rsa.json", "rsa.csv", "rsa.png"], overwrite)
    a, b = ActivationFile(acts_a), ActivationFile(acts_b)
    ra, rb = common_rows(a, b)
    la, lb = a.check_layers(layers_a), b.check_layers(layers_b)
    skipped = []
    if metric == "correlation":  # the correlation between two 1-value patterns is undefined
        skipped = [f"{a.path.name}:{x}" for x in la if a.widths[x] < 2] + [f"{b.path.name}:{x}" for x in lb
                                                                           if b.widths[x] < 2]
        la, lb = [x for x in la if a.widths[x] >= 2], [x for x in lb if b.widths[x] >= 2]
        if not la or not lb:
            raise AnalysisError("correlation RDMs need layers of at least 2 features; use --metric euclidean")
    m = rsa_matrix(a.load(la, ra), b.load(lb, rb), metric=metric, method=method)
    rows = [{"layer_a": x, "layer_b": y, "rsa": float(m[i, j])} for i, x in enumerate(la) for j, y in enumerate(lb)]
    result = {"a": str(a.path), "b": str(b.path), "metric": metric, "method": method, "n": len(ra),
              "layers_a": la, "layers_b": lb, "matrix": m, "cells": rows, "skipped_layers": skipped}
    o.json("rsa.json", result)
    o.csv("rsa.csv", rows)
    figures.heatmap(m, la, lb, o.file("rsa.png"), title=f"RSA ({method} of {metric} RDMs): {_name(a)} vs {_name(b)}",
                    xlabel=_name(b), ylabel=_name(a), colorbar=f"{method} r", cmap="magma", vmin=-0.1)
    return {**result, "out": str(o.path)}
