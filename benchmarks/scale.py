"""Scale: what a dataset root costs at many shards, and what 1M / 100M images at 224² need.

    python benchmarks/scale.py                                   # 10,000 shards, 6-7 min on 2 cores
    python benchmarks/scale.py --shards 1000 --json /tmp/scale.json

Measured (all through the library's own code, warm page cache, local disk):

1. **A root of --shards shards** (default 10,000), written like the pipeline writes them:
   `prepare_root` (the real manifest header of `--vary pose,position`, default library),
   `ShardWriter` (4 images of 8×8 each, real latents, lzf), listed in `dataset.json`. The
   build is timed but is no headline. On the way, at 100 / 1,000 / 3,000 listed shards and
   at the end, it times one manifest load, one rewrite (`save_manifest`: sort, JSON, fsync,
   rename), the manifest lock alone, and `commit_shard` itself (lock + re-read + rename +
   rewrite: what every finished shard costs) on real claimed shards.
   At the end: `check_listed` (the cheap check every run and every cluster job does at
   start), `open_root` (that check + lock + reload + the orphan scan), `root_status`,
   listing `shards/`, `verify(fast=True)` and `verify()` (sha256 of every file), and the
   memory of a loaded manifest.
2. **Manifests at the planned sizes** (no shard files): 1M and 100M images with shard size
   1,000 (the default) and 10,000: the header of the real spec plus one entry per shard;
   load, rewrite and `commit_shard` (on a dummy file) timed at that size. Commit cost is
   linear in the manifest size, so a whole run rewrites O(shards²) bytes; the total is
   summed from a fit over the measured sizes.
3. **Bytes and verify cost per image at 224²**: a 2-shard root of 128 smooth synthetic
   images (a shaded disc on a gradient, noise on the object) through the real writer, and,
   when present, the rendered roots of `benchmarks/data/fidelity/` (real Cycles images).
4. **sha256 throughput** of this CPU (in memory).

Then the plan for 1M and 100M images: shards, bytes, manifest, files per directory, the
cost of a run's manifest rewrites, the image rate the manifest lock allows, per-job start
cost, verify time; render cost from the measured CPU rate and the GPU *estimates* of
docs/gpu.md. Writes benchmarks/results/scale.json (--json).
"""
from __future__ import annotations

import argparse
import datetime
import glob
import hashlib
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from latentscape.config import DatasetSpec
from latentscape.dataset.format import MANIFEST, SHARD_DIR, shard_name
from latentscape.dataset.manifest import load_manifest, save_manifest
from latentscape.dataset.verify import verify
from latentscape.dataset.writer import ShardWriter
from latentscape.pipeline import claims
from latentscape.pipeline.plan import ShardTask
from latentscape.pipeline.root import (check_listed, claim_shard, commit_shard, manifest_lock, open_root,
                                       pending_shards, prepare_root, shard_tmp)
from latentscape.pipeline.status import root_status
from latentscape.resolve import resolve

ROOT = Path(__file__).resolve().parent.parent
VARY = ("pose", "position")  # as in the cluster example of docs/cluster.md
TARGETS = [(1_000_000, 1_000), (1_000_000, 10_000), (100_000_000, 1_000), (100_000_000, 10_000)]

# Render rates. Measured: docs/quality.md (pipeline img/s at 224², one CPU worker on the 2-core
# VM, default library, every group varying). GPU: ESTIMATES from docs/gpu.md (RTX 4090, OptiX,
# standard = 8 spp): one worker is bounded by its CPU side (~9.5 ms + Cycles' fixed cost
# <= 8.5 ms + GPU 3.9 ms -> ~45 img/s); the GPU-only ceiling with several workers is ~257 img/s.
CPU_IMG_S = {"draft": 7.04, "standard": 4.40, "high": 0.89}
CPU_CORES = 2
GPU_IMG_S = {"low": 45.0, "high": 257.0}
USD_PER_GPU_H = {"low": 1.0, "high": 4.0}  # assumption: cloud/cluster price of one GPU-hour
GPUS = 64  # the --jobs of the cluster example (one GPU each)


def med(xs):
    return statistics.median(xs) if xs else None


def timed(fn, repeat=1):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def spec_for(n, shard_size, resolution, library):
    return DatasetSpec(n=n, shard_size=shard_size, resolution=resolution, seed=0, vary=VARY, library=library)


# --------------------------------------------------------------------------- building a root
def _write_shards(args):
    """Write shards [(k, start, count, latents)] with the real writer; their manifest records."""
    shards_dir, resolution, compression, attrs, jobs = args
    recs = []
    for k, start, count, lat in jobs:
        with ShardWriter(Path(shards_dir) / shard_name(k), start, count, resolution, compression,
                         attrs={**attrs, "shard_id": k}) as w:
            w.write_latents(lat)
            for i in range(count):
                w.write_image(i, np.random.default_rng(start + i).integers(0, 256, (resolution, resolution, 3),
                                                                           dtype=np.uint8))
        recs.append(w.record())
    return recs


def _slice(lat, a, b):
    return {k: v[a:b] for k, v in lat.items()}


def build_shards(pool, root, ids, size, lat, resolution, compression, attrs, procs):
    chunks = [ids[i::procs] for i in range(procs)]
    work = [(str(root / SHARD_DIR), resolution, compression, attrs,
             [(k, k * size, size, _slice(lat, k * size, (k + 1) * size)) for k in chunk]) for chunk in chunks if chunk]
    recs = [r for part in pool.map(_write_shards, work) for r in part]
    return sorted(recs, key=lambda r: r["index_start"])


def commit_real(root, task, lat, resolution, compression, attrs, ttl):
    """Claim, write and commit one shard the way a worker does; seconds of commit_shard alone."""
    t = time.perf_counter()
    lease = claim_shard(root, task, ttl)
    t_claim = time.perf_counter() - t
    tmp = shard_tmp(root, task)
    with ShardWriter(root / SHARD_DIR / shard_name(task.shard_id), task.start, task.count, resolution, compression,
                     attrs={**attrs, "shard_id": task.shard_id}, tmp=tmp, rename=False) as w:
        w.write_latents(lat)
        for i in range(task.count):
            w.write_image(i, np.random.default_rng(task.start + i).integers(0, 256, (resolution, resolution, 3),
                                                                            dtype=np.uint8))
    t = time.perf_counter()
    m, ok = commit_shard(root, task, tmp, w.record(), lease)
    t_commit = time.perf_counter() - t
    lease.release()
    assert ok
    return m, t_commit, t_claim


def lock_only(root):
    with manifest_lock(root):
        pass


def manifest_costs(root, repeat):
    m = load_manifest(root)
    return {"shards": len(m["shards"]), "bytes": (root / MANIFEST).stat().st_size,
            "load_s": med(timed(lambda: load_manifest(root), repeat)),
            "save_s": med(timed(lambda: save_manifest(root, m), repeat)),
            "dumps_s": med(timed(lambda: json.dumps(m, indent=1), repeat)),  # the rewrite's CPU part
            # the same without indent: CPython's C encoder (indent=1 falls back to the Python one)
            "dumps_compact_s": med(timed(lambda: json.dumps(m), repeat)),
            "lock_s": med(timed(lambda: lock_only(root), repeat))}


def loaded_bytes(root):
    tracemalloc.start()
    m = load_manifest(root)
    cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del m
    return cur, peak


def measure_root(args, work: Path) -> dict:
    K, size, res, R = args.shards, args.shard_size, args.resolution, args.commits
    resolved = resolve(spec_for(K * size, size, res, args.library))
    root = work / "root"
    t0 = time.perf_counter()
    m = prepare_root(root, resolved)
    header_bytes = (root / MANIFEST).stat().st_size
    lat_all = resolved.sampler.sample_range(0, K * size)
    attr = json.dumps(resolved.to_dict())
    attrs = {"spec_hash": m["spec_hash"],
             "resolved_spec": attr if args.full_attrs else json.dumps({"stub": True, "real_bytes": len(attr)})}
    comp, ttl = resolved.spec.storage.compression, claims.lease_seconds()
    cps = sorted({c for c in (100, 1000, 3000) if c + R <= K - R} | {K - R})
    points, listed, build_s = [], 0, 0.0
    with ProcessPoolExecutor(args.procs) as pool:
        for c in cps:
            t = time.perf_counter()
            m["shards"] += build_shards(pool, root, list(range(listed, c)), size, lat_all, res, comp, attrs,
                                        args.procs)
            save_manifest(root, m)
            build_s += time.perf_counter() - t
            listed = c
            pt = manifest_costs(root, args.repeat)
            commits, claims_s = [], []
            for k in range(c, c + R):
                m, tc, tcl = commit_real(root, ShardTask(k, k * size, (k + 1) * size),
                                         _slice(lat_all, k * size, (k + 1) * size), res, comp, attrs, ttl)
                commits.append(tc)
                claims_s.append(tcl)
            listed = c + R
            pt.update(commit_s=med(commits), commit_all_s=commits, claim_s=med(claims_s))
            points.append(pt)
            print(f"  {c:>7,} shards listed: manifest {pt['bytes'] / 1e6:7.2f} MB, load {pt['load_s'] * 1e3:7.1f} ms, "
                  f"rewrite {pt['save_s'] * 1e3:7.1f} ms, commit_shard {pt['commit_s'] * 1e3:7.1f} ms "
                  f"(build so far {build_s:.0f} s)", flush=True)
    assert listed == K, (listed, K)
    out = {"shards": K, "shard_size": size, "resolution": res, "library": args.library,
           "shard_attr_bytes": len(attrs["resolved_spec"]), "real_resolved_spec_attr_bytes": len(attr),
           "header_bytes": header_bytes, "build_s": build_s, "build_total_s": time.perf_counter() - t0,
           "points": points}
    fin = manifest_costs(root, args.repeat)
    out["final"] = fin
    out["bytes_per_shard_entry"] = (fin["bytes"] - header_bytes) / K
    out["manifest_memory_bytes"], out["manifest_memory_peak_bytes"] = loaded_bytes(root)
    m = load_manifest(root)
    steps = {
        "check_listed_s": lambda: check_listed(root, m),
        "open_root_s": lambda: open_root(root, resolved),
        "pending_shards_s": lambda: list(pending_shards(m)),
        "root_status_s": lambda: root_status(root, query_queue=False),
        "listdir_s": lambda: os.listdir(root / SHARD_DIR),
        "scandir_stat_s": lambda: [e.stat() for e in os.scandir(root / SHARD_DIR)],
        "glob_sorted_s": lambda: sorted((root / SHARD_DIR).glob("shard-*.h5")),
    }
    for name, fn in steps.items():
        out[name] = min(timed(fn, 1 if name in ("check_listed_s", "open_root_s") else 3))
        print(f"  {name:<18} {out[name]:8.3f} s", flush=True)
    out["files_in_shards_dir"] = len(os.listdir(root / SHARD_DIR))
    t = time.perf_counter()
    problems, summ = verify(root, fast=True)
    out["verify_fast_s"] = time.perf_counter() - t
    print(f"  verify --fast      {out['verify_fast_s']:8.3f} s ({len(problems)} problems)", flush=True)
    t = time.perf_counter()
    problems2, summ = verify(root)
    out["verify_full_s"] = time.perf_counter() - t
    print(f"  verify (sha256)    {out['verify_full_s']:8.3f} s ({len(problems2)} problems)", flush=True)
    w = max(2, os.cpu_count() or 1)
    t = time.perf_counter()
    problems3, _ = verify(root, workers=w)
    out["verify_full_workers"], out["verify_full_parallel_s"] = w, time.perf_counter() - t
    assert [str(p) for p in problems3] == [str(p) for p in problems2]
    print(f"  verify --workers {w} {out['verify_full_parallel_s']:8.3f} s (same problems)", flush=True)
    out["verify_problems"] = [str(p) for p in (problems + problems2)[:5]]
    out["dataset_bytes"] = summ["bytes"]
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- shard-attr probe
def attr_probe(args, work: Path) -> dict | None:
    """check_listed and verify --fast per shard with the real resolved_spec attribute (as the
    pipeline stores it in every shard) against a stub: does the big attribute slow headers?"""
    P = args.attr_probe
    if P <= 0:
        return None
    out = {"shards": P}
    for full in (False, True):
        resolved = resolve(spec_for(P * 4, 4, 8, args.library))
        root = work / f"attr_{int(full)}"
        m = prepare_root(root, resolved)
        attr = json.dumps(resolved.to_dict())
        attrs = {"spec_hash": m["spec_hash"], "resolved_spec": attr if full else "{}"}
        lat = resolved.sampler.sample_range(0, P * 4)
        m["shards"] += _write_shards((str(root / SHARD_DIR), 8, "lzf", attrs,
                                      [(k, 4 * k, 4, _slice(lat, 4 * k, 4 * k + 4)) for k in range(P)]))
        save_manifest(root, m)
        key = "full" if full else "stub"
        out[key] = {"shard_bytes": med([s["bytes"] for s in m["shards"]]),
                    "check_listed_per_shard_s": min(timed(lambda: check_listed(root, m), 3)) / P,
                    "verify_fast_per_shard_s": min(timed(lambda: verify(root, fast=True), 2)) / P,
                    "verify_full_per_shard_s": min(timed(lambda: verify(root), 2)) / P}
        shutil.rmtree(root, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- manifests at the planned sizes
def target_manifests(args, work: Path) -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for n, size in TARGETS:
        K = -(-n // size)
        resolved = resolve(spec_for(n, size, 224, args.library))
        root = work / f"t_{n}_{size}"
        m = prepare_root(root, resolved)
        header = (root / MANIFEST).stat().st_size
        R = min(3, K)
        fake_bytes = size * 12_000 + 600_000  # a plausible file size (it only sets the digits stored)
        m["shards"] = [{"file": f"{SHARD_DIR}/{shard_name(k)}", "count": min(n, (k + 1) * size) - k * size,
                        "index_start": k * size, "index_stop": min(n, (k + 1) * size), "bytes": fake_bytes,
                        "sha256": rng.bytes(32).hex()} for k in range(K - R)]
        t = time.perf_counter()
        save_manifest(root, m)
        first_save = time.perf_counter() - t
        row = {"n": n, "shard_size": size, **manifest_costs(root, args.repeat), "header_bytes": header}
        row["save_s"] = min(row["save_s"], first_save)
        commits = []
        for k in range(K - R, K):
            task = ShardTask(k, k * size, min(n, (k + 1) * size))
            lease = claim_shard(root, task, claims.lease_seconds())
            tmp = shard_tmp(root, task)
            (root / SHARD_DIR).mkdir(exist_ok=True)
            tmp.write_bytes(b"x")
            rec = {"file": f"{SHARD_DIR}/{shard_name(k)}", "count": task.count, "index_start": task.start,
                   "index_stop": task.stop, "bytes": fake_bytes, "sha256": rng.bytes(32).hex()}
            t = time.perf_counter()
            _, ok = commit_shard(root, task, tmp, rec, lease)
            commits.append(time.perf_counter() - t)
            lease.release()
            assert ok
        row["shards"] = K
        row["commit_s"] = med(commits)
        row["memory_bytes"], _ = loaded_bytes(root) if K >= 10_000 else (None, None)
        out.append(row)
        print(f"  n {n:>11,} shard {size:>6,}: {K:>7,} shards, manifest {row['bytes'] / 1e6:7.2f} MB, "
              f"load {row['load_s'] * 1e3:7.1f} ms, rewrite {row['save_s'] * 1e3:7.1f} ms, "
              f"commit_shard {row['commit_s'] * 1e3:7.1f} ms (json.dumps {row['dumps_s'] * 1e3:.0f} ms with "
              f"indent=1, {row['dumps_compact_s'] * 1e3:.0f} ms without)", flush=True)
        shutil.rmtree(root, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- bytes per image at 224²
def smooth_image(i: int, r: int) -> np.ndarray:
    """A render-like image: a vertical grey gradient, a shaded disc (the object) with
    sigma-3 noise on it, the disc's place and colour drawn from i."""
    rng = np.random.default_rng(i)
    y, x = np.mgrid[0:r, 0:r].astype(np.float32) / r
    img = np.repeat((90 + 40 * y)[..., None], 3, axis=2)
    cy, cx, rad = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.12, 0.3)
    d = np.hypot(y - cy, x - cx)
    inside = d < rad
    colour = rng.uniform(40, 220, 3)
    shade = (1.0 - 0.6 * (d / rad))[..., None] * (0.6 + 0.4 * (x - cx + y - cy)[..., None])
    obj = np.clip(colour * (0.5 + shade), 0, 255) + rng.normal(0, 3, (r, r, 3))
    img[inside] = obj[inside]
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def image_bytes(args, work: Path) -> dict:
    n, size, r = 128, 64, 224
    resolved = resolve(spec_for(n, size, r, args.library))
    root = work / "img224"
    m = prepare_root(root, resolved)
    lat = resolved.sampler.sample_range(0, n)
    attrs = {"spec_hash": m["spec_hash"], "resolved_spec": json.dumps(resolved.to_dict())}
    for k in range(n // size):
        with ShardWriter(root / SHARD_DIR / shard_name(k), k * size, size, r, "lzf", attrs=attrs) as w:
            w.write_latents(_slice(lat, k * size, (k + 1) * size))
            for i in range(size):
                w.write_image(i, smooth_image(k * size + i, r))
        m["shards"].append(w.record())
    save_manifest(root, m)
    import h5py
    with h5py.File(root / m["shards"][0]["file"]) as f:
        img = f["images"].id.get_storage_size() / size
    out = {"synthetic": {"images": n, "file_bytes_per_image": sum(s["bytes"] for s in m["shards"]) / n,
                         "image_bytes_per_image": img, "uncompressed_image_bytes": r * r * 3,
                         "verify_fast_per_image_s": min(timed(lambda: verify(root, fast=True), 2)) / n,
                         "verify_full_per_image_s": min(timed(lambda: verify(root), 2)) / n}}
    shutil.rmtree(root, ignore_errors=True)
    out["rendered"] = rendered_bytes(args.rendered)
    return out


def rendered_bytes(pattern: str) -> list[dict]:
    """Bytes per image of the rendered roots matching `pattern` (read only), and verify's time."""
    import h5py
    rows = []
    for d in sorted(glob.glob(pattern)):
        d = Path(d)
        try:
            m = load_manifest(d)
        except Exception:  # noqa: BLE001 - not a root
            continue
        if m["resolution"] != 224:
            continue
        n = img = msk = 0
        for s in m["shards"]:
            with h5py.File(d / s["file"], "r") as f:
                n += f["images"].shape[0]
                img += f["images"].id.get_storage_size()
                msk += f["masks"].id.get_storage_size() if "masks" in f else 0
        row = {"root": str(d.relative_to(ROOT)) if d.is_relative_to(ROOT) else str(d), "vary": m["spec"]["vary"],
               "images": n, "file_bytes_per_image": sum(s["bytes"] for s in m["shards"]) / n,
               "image_bytes_per_image": img / n, "mask_bytes_per_image": msk / n}
        if d.name in ("defaults", "pose-fixed-3q"):
            row["verify_fast_per_image_s"] = min(timed(lambda: verify(d, fast=True), 1)) / n
            row["verify_full_per_image_s"] = min(timed(lambda: verify(d), 1)) / n
        rows.append(row)
    return rows


def sha256_rate() -> float:
    buf = np.random.default_rng(0).bytes(256 << 20)
    t = time.perf_counter()
    hashlib.sha256(buf).hexdigest()
    return len(buf) / (time.perf_counter() - t)


# --------------------------------------------------------------------------- the plan
def fit_line(xs, ys):
    """Least-squares a + b x."""
    b, a = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(a), float(b)


def plan(res: dict) -> list[dict]:
    root, targets, img = res["root"], res["targets"], res["image_bytes"]
    K0 = root["shards"]
    per_shard = {k: root[k] / K0 for k in ("check_listed_s", "open_root_s", "root_status_s", "listdir_s",
                                           "scandir_stat_s", "glob_sorted_s")}
    # commit cost against manifest bytes, from every measured point
    pts = [(p["bytes"], p["commit_s"]) for p in root["points"]] + [(t["bytes"], t["commit_s"]) for t in targets]
    a, b = fit_line(*zip(*pts))
    res["commit_fit"] = {"a_s": a, "b_s_per_byte": b, "points": len(pts)}
    rend = {r["root"].split("/")[-1]: r for r in img["rendered"]}
    plain = rend.get("pose-fixed-3q", {}).get("image_bytes_per_image")
    hdri = rend.get("defaults", {}).get("image_bytes_per_image")
    lo_img = plain or img["synthetic"]["image_bytes_per_image"]
    hi_img = hdri or img["synthetic"]["uncompressed_image_bytes"]  # without rendered roots: the raw upper bound
    v_fast = (rend.get("defaults") or img["synthetic"])["verify_fast_per_image_s"]
    v_full_cpu = (rend.get("defaults") or img["synthetic"])["verify_full_per_image_s"]
    attr = root["real_resolved_spec_attr_bytes"]
    out = []
    for t in targets:
        n, S, K = t["n"], t["shard_size"], t["shards"]
        H, per = t["header_bytes"], (t["bytes"] - t["header_bytes"]) / K
        rewrite_bytes = H * K + per * K * (K + 1) / 2
        rewrite_s = a * K + b * rewrite_bytes
        row = {"n": n, "shard_size": S, "shards": K,
               "shard_mb": [S * lo_img / 1e6 + attr / 1e6, S * hi_img / 1e6 + attr / 1e6],
               "dataset_tb": [n * lo_img / 1e12 + K * attr / 1e12, n * hi_img / 1e12 + K * attr / 1e12],
               "attr_share": [attr / (S * hi_img + attr), attr / (S * lo_img + attr)],
               "manifest_mb": t["bytes"] / 1e6, "load_s": t["load_s"], "commit_s": t["commit_s"],
               "run_rewrite_gb": rewrite_bytes / 1e9, "run_rewrite_h": rewrite_s / 3600,
               "lock_cap_img_s": S / t["commit_s"],
               "lock_busy_at": {g: GPUS * GPU_IMG_S[g] / S * t["commit_s"] for g in GPU_IMG_S},
               "files_in_shards_dir": K,
               "job_start_s": per_shard["open_root_s"] * K, "status_s": per_shard["root_status_s"] * K,
               "driver_poll_busy": t["load_s"] / 1.0,
               "verify_fast_h": (n * v_fast) / 3600, "verify_full_h": (n * v_full_cpu) / 3600,
               "cpu_core_h": {q: n / r * CPU_CORES / 3600 for q, r in CPU_IMG_S.items()},
               "gpu_h": {g: n / r / 3600 for g, r in GPU_IMG_S.items()},
               "memory_mb": (t.get("memory_bytes") or root["manifest_memory_bytes"] / K0 * K) / 1e6}
        row["usd"] = [row["gpu_h"]["high"] * USD_PER_GPU_H["low"], row["gpu_h"]["low"] * USD_PER_GPU_H["high"]]
        row["wall_h_64_gpus"] = [row["gpu_h"]["high"] / GPUS, row["gpu_h"]["low"] / GPUS]
        # commits are serialised by the manifest lock: a run takes at least the sum of its commits
        row["wall_h_64_gpus_lock_bound"] = [max(w, row["run_rewrite_h"]) for w in row["wall_h_64_gpus"]]
        out.append(row)
    return out


def print_tables(res):
    r = res["root"]
    print(f"\nroot of {r['shards']:,} shards ({r['shard_size']} images of {r['resolution']}² each), "
          f"{r['files_in_shards_dir']:,} files in shards/, build {r['build_s']:.0f} s")
    print(f"{'listed':>8} {'manifest MB':>11} {'load ms':>8} {'rewrite ms':>10} {'(dumps ms)':>10} {'(compact)':>9} "
          f"{'lock ms':>8} {'commit ms':>9}")
    for p in r["points"] + [dict(r["final"], commit_s=float("nan"))]:
        print(f"{p['shards']:>8,} {p['bytes'] / 1e6:>11.2f} {p['load_s'] * 1e3:>8.1f} {p['save_s'] * 1e3:>10.1f} "
              f"{p['dumps_s'] * 1e3:>10.1f} {p['dumps_compact_s'] * 1e3:>9.1f} {p['lock_s'] * 1e3:>8.1f} {p['commit_s'] * 1e3:>9.1f}")
    print(f"header {r['header_bytes']:,} B, {r['bytes_per_shard_entry']:.0f} B per shard entry, "
          f"loaded manifest {r['manifest_memory_bytes'] / 1e6:.1f} MB in memory")
    for k in ("check_listed_s", "open_root_s", "root_status_s", "verify_fast_s", "verify_full_s", "listdir_s",
              "scandir_stat_s", "glob_sorted_s", "pending_shards_s"):
        print(f"  {k:<18} {r[k]:8.3f} s   {r[k] / r['shards'] * 1e3:7.3f} ms per shard")
    if res.get("attr_probe"):
        a = res["attr_probe"]
        print(f"resolved_spec attribute: {r['real_resolved_spec_attr_bytes']:,} B in every shard; per shard "
              f"(stub -> full): check_listed {a['stub']['check_listed_per_shard_s'] * 1e3:.2f} -> "
              f"{a['full']['check_listed_per_shard_s'] * 1e3:.2f} ms, verify --fast "
              f"{a['stub']['verify_fast_per_shard_s'] * 1e3:.2f} -> {a['full']['verify_fast_per_shard_s'] * 1e3:.2f} ms")
    im = res["image_bytes"]
    s = im["synthetic"]
    print(f"\n224² bytes per image (lzf): synthetic smooth {s['image_bytes_per_image']:,.0f} "
          f"(file {s['file_bytes_per_image']:,.0f}, raw {s['uncompressed_image_bytes']:,}); "
          f"verify {s['verify_fast_per_image_s'] * 1e3:.2f} / {s['verify_full_per_image_s'] * 1e3:.2f} ms per image")
    for x in im["rendered"]:
        v = (f"; verify {x['verify_fast_per_image_s'] * 1e3:.2f} / {x['verify_full_per_image_s'] * 1e3:.2f} ms/img"
             if "verify_fast_per_image_s" in x else "")
        print(f"  rendered {x['root']}: images {x['image_bytes_per_image']:,.0f}, masks {x['mask_bytes_per_image']:,.0f}, "
              f"file {x['file_bytes_per_image']:,.0f} B/img{v}")
    print(f"sha256: {res['sha256_mb_s']:.0f} MB/s")
    print(f"\nplanned sizes (manifest columns measured; rewrites, lock cap, job start extrapolated):")
    print(f"{'n':>11} {'shard':>6} {'shards':>7} {'manifest MB':>11} {'load s':>7} {'commit s':>8} "
          f"{'rewrites GB':>11} {'rewrites h':>10} {'lock cap img/s':>14} {'job start s':>11}")
    for p in res["plan"]:
        print(f"{p['n']:>11,} {p['shard_size']:>6,} {p['shards']:>7,} {p['manifest_mb']:>11.2f} {p['load_s']:>7.3f} "
              f"{p['commit_s']:>8.3f} {p['run_rewrite_gb']:>11.1f} {p['run_rewrite_h']:>10.2f} "
              f"{p['lock_cap_img_s']:>14,.0f} {p['job_start_s']:>11.1f}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shards", type=int, default=10_000, help="shards in the measured root (default 10,000)")
    p.add_argument("--shard-size", type=int, default=4, help="images per shard of the measured root")
    p.add_argument("--resolution", type=int, default=8, help="image size of the measured root")
    p.add_argument("--commits", type=int, default=3, help="commit_shard calls timed at each size")
    p.add_argument("--repeat", type=int, default=3, help="repeats of load / rewrite / lock (median)")
    p.add_argument("--library", default="default", help="asset library (sets the manifest header's size)")
    p.add_argument("--full-attrs", action="store_true",
                   help="store the real resolved_spec attribute in every shard (~0.56 MB each) as the "
                        "pipeline does; default a stub (the attribute probe measures its effect)")
    p.add_argument("--attr-probe", type=int, default=100, help="shards per variant of the attribute probe (0: off)")
    p.add_argument("--no-targets", action="store_true", help="skip the manifests at the planned sizes")
    p.add_argument("--rendered", default=str(ROOT / "benchmarks" / "data" / "fidelity" / "*"),
                   help="glob of rendered 224² roots to read bytes per image from")
    p.add_argument("--procs", type=int, default=os.cpu_count() or 1, help="processes writing the shards")
    p.add_argument("--work", help="working folder (default: a temporary one, removed)")
    p.add_argument("--keep", action="store_true", help="keep the measured root")
    p.add_argument("--replan", action="store_true", help="only recompute the plan from the measurements in --json")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "scale.json"))
    return p.parse_args(argv)


def machine() -> dict:
    cpu = "?"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "date": datetime.date.today().isoformat()}


def main(argv=None):
    args = parse_args(argv)
    if args.replan:
        res = json.loads(Path(args.json).read_text())
        res["plan"] = plan(res)
        print_tables(res)
        Path(args.json).write_text(json.dumps(res, indent=1, default=float))
        return
    if args.shards < 2 * args.commits + 1:
        sys.exit("--shards must exceed 2 x --commits")
    t0 = time.perf_counter()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="ls_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    res = {"machine": machine(), "args": vars(args)}
    try:
        print(f"root of {args.shards:,} shards:", flush=True)
        res["root"] = measure_root(args, work)
        res["attr_probe"] = attr_probe(args, work)
        print("manifests at the planned sizes:", flush=True)
        res["targets"] = [] if args.no_targets else target_manifests(args, work)
        print("bytes per image at 224²:", flush=True)
        res["image_bytes"] = image_bytes(args, work)
        res["sha256_mb_s"] = sha256_rate() / 1e6
        if res["targets"]:
            res["plan"] = plan(res)
        res["assumptions"] = {"cpu_img_s_measured": CPU_IMG_S, "cpu_cores": CPU_CORES,
                              "gpu_img_s_estimate": GPU_IMG_S, "usd_per_gpu_hour": USD_PER_GPU_H, "gpus": GPUS}
        res["seconds"] = time.perf_counter() - t0
        if res.get("plan"):
            print_tables(res)
    finally:
        if not args.work and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1, default=float))
        print(f"wrote {args.json} ({res['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
