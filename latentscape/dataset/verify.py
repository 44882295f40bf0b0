"""Check that a dataset is whole: manifest, shards, indices, hashes, latent ranges, images,
and the mask and depth passes where present."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentscape.dataset.format import (open_shard, read_dataset, sha256_file, shard_entry_problem,
                                        shard_index_problem)
from latentscape.dataset.manifest import load_manifest
from latentscape.errors import FormatError
from latentscape.latents.space import DISTRACTOR_LATENTS, LATENTS, varying_groups

_TOL = 1e-9


@dataclass
class Problem:
    where: str
    what: str

    def __str__(self):
        return f"{self.where}: {self.what}"


def verify(root: str | Path, fast: bool = False, progress=None, workers: int = 1) -> tuple[list[Problem], dict]:
    """Return (problems, summary). `fast` skips sha256 hashing; `workers` > 1 checks shards in
    that many processes (same result, in the same order).

    A shard entry that leads outside the root, is missing or is not a regular file is a
    problem and is never opened or hashed."""
    root = Path(root)
    m = load_manifest(root)
    problems: list[Problem] = []
    schema = {s["name"]: s for s in m["latents"]}
    fixed = _fixed_latents(m)
    seen: list[tuple[int, int, str]] = []
    total = 0
    empty: list[int] = []  # images whose object covers no pixel (not an error: reported)
    shards = m["shards"]
    results = _shard_results(root, m, schema, fixed, fast, workers)
    for rec, (shard_problems, shard_empty, whole) in zip(shards, progress(results) if progress else results):
        problems += shard_problems
        empty += shard_empty
        if whole:
            seen.append((rec["index_start"], rec["index_stop"], rec["file"]))
            total += rec["count"]
    problems += _check_coverage(seen, m["n"])
    summary = {"n": m["n"], "shards": len(shards), "images": total, "empty_images": sorted(empty),
               "bytes": sum(s.get("bytes") or 0 for s in shards)}
    return problems, summary


class _Results:
    """The per-shard results in manifest order, with a length (for progress bars)."""

    def __init__(self, it, n):
        self.it, self.n = it, n

    def __iter__(self):
        return iter(self.it)

    def __len__(self):
        return self.n


def _shard_results(root, m, schema, fixed, fast, workers):
    args = [(root, rec, m, schema, fixed, fast) for rec in m["shards"]]
    if workers <= 1 or len(args) < 2:
        return _Results((_one_shard(*a) for a in args), len(args))
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))

    def ordered():
        with pool:
            yield from pool.map(_one_shard_args, args, chunksize=max(1, len(args) // (workers * 16)))
    return _Results(ordered(), len(args))


def _one_shard_args(a):
    return _one_shard(*a)


def _one_shard(root, rec, m, schema, fixed, fast) -> tuple[list[Problem], list[int], bool]:
    """(problems, empty image indices, whether the shard counts as present) of one listed shard."""
    where = rec["file"]
    path, why = shard_entry_problem(root, where)
    if why:
        return [Problem(where, why)], [], False
    problems = []
    try:
        digest = None if fast else sha256_file(path)
        if digest is not None and digest != rec.get("sha256"):
            problems.append(Problem(where, f"sha256 mismatch (expected {rec.get('sha256')}, found {digest})"))
        shard_problems, shard_empty = _check_shard(path, where, rec, m, schema, fixed)
    except (FormatError, OSError, KeyError, ValueError, TypeError) as e:
        return problems + [Problem(where, f"cannot be read: {e}")], [], False
    return problems + shard_problems, shard_empty, True


def _check_shard(path, where, rec, m, schema, fixed) -> tuple[list[Problem], list[int]]:
    """Problems of one shard, and the global indices of its images with no object pixel."""
    out = []
    with open_shard(path) as f:
        idx = f["index"][()]
        want = np.arange(rec["index_start"], rec["index_stop"])
        if len(idx) != rec["count"]:
            out.append(Problem(where, f"count: expected {rec['count']}, found {len(idx)}"))
        elif not np.array_equal(idx, want):
            out.append(Problem(where, f"index range: expected {want[0]}..{want[-1]}, found {idx.min()}..{idx.max()}"))
        elif (why := shard_index_problem(f, rec)) is not None:
            out.append(Problem(where, why))
        if f.attrs.get("spec_hash") != m["spec_hash"]:
            out.append(Problem(where, f"spec hash: expected {m['spec_hash']}, found {f.attrs.get('spec_hash')}"))
        for name, s in schema.items():
            if f"latents/{name}" not in f:
                out.append(Problem(where, f"latent {name!r} missing"))
                continue
            out += _check_latent(where, name, read_dataset(f, f"latents/{name}"), s, fixed.get(name), len(idx))
        if "images" in f:
            out += _check_images(where, f, m["resolution"], len(idx))
        else:
            out.append(Problem(where, "no images dataset"))
        out += _check_passes(where, f, m, len(idx))
        if "latents/distractor_count" in f:
            out += _check_distractors(where, f)
        empty = idx[f["meta/visible_fraction"][()] == 0].tolist() if "meta/visible_fraction" in f else []
    return out, empty


def _check_latent(where, name, values, s, fixed_value, n) -> list[Problem]:
    out = []
    if values.shape != (n, *s["shape"]):
        return [Problem(where, f"latent {name}: shape expected {(n, *s['shape'])}, found {values.shape}")]
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        out.append(Problem(where, f"latent {name}: non-finite values"))
    rng = s.get("range")
    if rng and n:
        lo = -np.inf if rng[0] is None else rng[0]
        hi = np.inf if rng[1] is None else rng[1]
        if values.min() < lo - _TOL or values.max() > hi + _TOL:
            out.append(Problem(where, f"latent {name}: values {values.min():.6g}..{values.max():.6g} "
                                      f"outside declared range {lo}..{hi}"))
    if fixed_value is not None and n and not np.all(values == values.reshape(n, -1)[0].reshape(values.shape[1:])):
        out.append(Problem(where, f"latent {name}: group is held fixed but values differ"))
    return out


def _check_images(where, f, resolution, n) -> list[Problem]:
    ds = f["images"]
    if ds.shape != (n, resolution, resolution, 3) or ds.dtype != np.uint8:
        return [Problem(where, f"images: expected uint8 {(n, resolution, resolution, 3)}, found {ds.dtype} {ds.shape}")]
    out = []
    for i in range(n):
        img = ds[i]
        if img.min() == img.max():
            out.append(Problem(where, f"image at row {i} (index {int(f['index'][i])}) is constant ({img.min()})"))
            if len(out) >= 5:
                out.append(Problem(where, "more constant images not listed"))
                break
    return out


MAX_LISTED = 5  # problems of one kind listed per shard before "more ... not listed"


def _check_passes(where, f, m, n) -> list[Problem]:
    """The optional passes: `masks` uint8 [n, H, W] whose mean coverage is
    meta/visible_fraction; `depth` float16 [n, H, W], >= 0 or inf, never NaN; with both, inf
    wherever the mask is 0 and finite wherever it is 255 (partly covered edge pixels may be
    either: the depth pass is not anti-aliased like the coverage, see docs/format.md)."""
    r = m["resolution"]
    wanted = set(((m.get("spec") or {}).get("render") or {}).get("passes") or ())
    out, arrays = [], {}
    for name, pass_name, dtype in (("masks", "mask", np.uint8), ("depth", "depth", np.float16)):
        if name not in f:
            if pass_name in wanted:
                out.append(Problem(where, f"{name} missing (the spec asks for the {pass_name} pass)"))
            continue
        ds = f[name]
        if not hasattr(ds, "shape") or ds.shape != (n, r, r) or ds.dtype != dtype:
            out.append(Problem(where, f"{name}: expected {np.dtype(dtype).name} {(n, r, r)}, found "
                                      f"{getattr(ds, 'dtype', type(ds).__name__)} {getattr(ds, 'shape', '')}"))
            continue
        arrays[name] = ds
    if not arrays:
        return out
    vf = None
    if "masks" in arrays:
        vf = f["meta/visible_fraction"][()] if "meta/visible_fraction" in f else None
        if vf is None or vf.shape != (n,):
            out.append(Problem(where, "masks present but meta/visible_fraction is "
                                      + ("missing" if vf is None else f"of shape {vf.shape}, expected ({n},)")))
            vf = None
    index = f["index"][()] if "index" in f else np.arange(n)
    listed: dict[str, int] = {}

    def bad(kind: str, i: int, what: str):
        listed[kind] = listed.get(kind, 0) + 1
        if listed[kind] <= MAX_LISTED:
            out.append(Problem(where, f"{kind} at row {i} (index {int(index[i]) if i < len(index) else '?'}): {what}"))

    for i in range(n):
        mask = arrays["masks"][i] if "masks" in arrays else None
        if mask is not None and vf is not None:
            cover = float(mask.mean()) / 255.0
            if not abs(cover - float(vf[i])) <= 1e-6:
                bad("masks", i, f"mean coverage {cover:.7f} but meta/visible_fraction is {float(vf[i]):.7f}")
        if "depth" not in arrays:
            continue
        depth = arrays["depth"][i]
        if np.isnan(depth).any():
            bad("depth", i, f"{int(np.isnan(depth).sum())} NaN value(s)")
        elif (depth < 0).any():
            bad("depth", i, f"negative value(s) (min {float(depth.min()):.4g})")
        if mask is not None:
            hit = np.isfinite(depth)
            if (hit & (mask == 0)).any():
                bad("depth", i, f"finite at {int((hit & (mask == 0)).sum())} pixel(s) where the mask is 0 (no object)")
            if (~hit & (mask == 255)).any():
                bad("depth", i, f"not finite at {int((~hit & (mask == 255)).sum())} pixel(s) the object covers fully")
    for kind, k in listed.items():
        if k > MAX_LISTED:
            out.append(Problem(where, f"{kind}: {k - MAX_LISTED} more row(s) with problems not listed"))
    return out


def _check_coverage(seen, n) -> list[Problem]:
    """Indices in more than one shard and indices in none (memory grows with shards, not n)."""
    out = []
    covered, dup, dup_first, gaps = 0, 0, None, []
    for start, stop, where in sorted(seen):
        if start < 0 or stop > n or start >= stop:
            out.append(Problem(where, f"index range {start}..{stop - 1} outside 0..{n - 1}"))
            continue
        if start < covered:
            dup += min(stop, covered) - start
            dup_first = start if dup_first is None else min(dup_first, start)
        elif start > covered:
            gaps.append((covered, start))
        covered = max(covered, stop)
    if covered < n:
        gaps.append((covered, n))
    if dup:
        out.append(Problem("dataset", f"{dup} index(es) in more than one shard, first {dup_first}"))
    if gaps:
        missing = sum(b - a for a, b in gaps)
        out.append(Problem("dataset", f"{missing} index(es) missing (expected 0..{n - 1}), first {gaps[0][0]}"))
    return out


def _check_distractors(where, f) -> list[Problem]:
    """Distractor tables: each image's count within 0..K, its rows filled (finite, ids >= 0), the rows
    past its count padded (-1 / NaN), so no table can lend an image a distractor it does not have."""
    count = f["latents/distractor_count"][()]
    tables = {k: f[f"latents/{k}"][()] for k in DISTRACTOR_LATENTS if k != "distractor_count" and f"latents/{k}" in f}
    k_max = next(iter(tables.values())).shape[1] if tables else 0
    if count.min(initial=0) < 0 or count.max(initial=0) > k_max:
        return [Problem(where, f"distractor_count outside 0..{k_max} (the tables' width)")]
    out = []
    used = np.arange(k_max)[None, :] < count[:, None]  # [n, K]: rows that hold a distractor
    for name, t in tables.items():
        flat = t.reshape(t.shape[0], k_max, -1)
        if t.dtype.kind == "i":
            filled, padded = (flat >= 0).all(-1), (flat == -1).all(-1)
        else:
            filled, padded = np.isfinite(flat).all(-1), np.isnan(flat).all(-1)
        bad = np.flatnonzero((used & ~filled).any(1) | (~used & ~padded).any(1))
        if bad.size:
            out.append(Problem(where, f"latent {name}: {bad.size} image(s) whose rows disagree with distractor_count "
                                      f"(filled up to the count, -1/NaN after it), first at shard row {bad[0]}"))
    return out


def _fixed_latents(m) -> dict:
    """Stored latents whose whole group is held fixed (they must be constant)."""
    resolved = m.get("resolved", {})
    varying = varying_groups(resolved.get("distributions", {}), resolved.get("scene", "studio"))
    return {name: True for name, lt in LATENTS.items() if lt.group not in varying}
