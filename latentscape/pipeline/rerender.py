"""`verify --rerender K`: re-render K random images of a dataset and compare them with the stored ones.

Everything comes from the resolved description stored in the manifest (nothing is
resolved again, as `repair_dataset` does): the latents of the chosen images are drawn
again and must equal the stored ones exactly; the images are rendered again in one
spawned Blender process and must match the stored pixels within the determinism
tolerance of docs/determinism.md (per image: at most 2% of pixels differ and the mean
absolute difference is under 0.5 grey levels).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentscape.assets.sources import missing_assets
from latentscape.dataset.manifest import load_manifest
from latentscape.dataset.reader import DatasetReader
from latentscape.dataset.verify import Problem
from latentscape.errors import DatasetMismatchError, SpecError
from latentscape.latents.space import CLUTTER_META, DESIGN_META, DISTRACTOR_LATENTS, LATENTS, META, SCENE_LATENTS
from latentscape.pipeline.local import worker_config, worker_plan
from latentscape.renderer.child import run_in_blender_child
from latentscape.renderer.rerender import lead_rows, rerender_images
from latentscape.resolve import IDENTITY_VERSION, ResolvedDataset

MAX_PIXEL_FRACTION = 0.02  # share of an image's pixels that may differ (any channel)
MAX_MEAN_DIFF = 0.5        # mean |difference| over an image's values, grey levels (0..255)
SILENT_S = 3600.0          # how long the Blender child may go without finishing an image


@dataclass(frozen=True)
class ImageCheck:
    """One re-rendered image: the share of pixels that differ and the mean |difference|."""

    index: int
    pixel_fraction: float
    mean_diff: float

    @property
    def exact(self) -> bool:
        return self.pixel_fraction == 0.0

    @property
    def within_tolerance(self) -> bool:
        return self.pixel_fraction <= MAX_PIXEL_FRACTION and self.mean_diff < MAX_MEAN_DIFF

    def severity(self) -> float:
        return max(self.pixel_fraction / MAX_PIXEL_FRACTION, self.mean_diff / MAX_MEAN_DIFF)


@dataclass
class RerenderReport:
    """What `rerender_check` found: `ok` only if every latent is identical and every image is
    within tolerance. `problems` name the image index (`where` = "image I (shard file)")."""

    root: Path
    indices: list[int]
    device: str = ""
    stored_devices: list[str] = field(default_factory=list)
    checks: list[ImageCheck] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def worst(self) -> ImageCheck | None:
        return max(self.checks, key=ImageCheck.severity, default=None)

    def line(self) -> str:
        """The one-line summary (`rerender: ...`)."""
        k, w = len(self.indices), self.worst
        latents_bad = {p.where for p in self.problems if p.what.startswith("stored latent")}
        pixels_bad = [c for c in self.checks if not c.within_tolerance]
        head = f"rerender: {k} image{'s' * (k != 1)} re-rendered on {self.device or '?'}"
        lat = f"latents differ in {len(latents_bad)}" if latents_bad else "latents identical"
        if pixels_bad:
            pix = f"pixels beyond tolerance in {len(pixels_bad)}"
        else:
            pix = "pixels within tolerance"
        exact = sum(c.exact for c in self.checks)
        if w is None:
            worst = ""
        elif exact == len(self.checks):
            worst = f" (all {exact} bit-identical)"
        else:
            worst = (f" (worst image {w.index}: {w.pixel_fraction:.1%} pixels differ, mean |d| {w.mean_diff:.2f}; "
                     f"{exact} of {len(self.checks)} bit-identical)")
        other = sorted(set(self.stored_devices) - {self.device})
        note = (f"; note: stored images were rendered on {', '.join(other)} (Cycles does not promise identical "
                f"noise across devices; use --device to match)") if other and self.device else ""
        return f"{head}, {lat}, {pix}{worst}{note}"


def rerender_check(root: str | Path, k: int, *, seed: int = 0, device: str = "cpu", progress: bool = False,
                   available: dict | None = None) -> RerenderReport:
    """Re-render `k` images of `root` chosen by `numpy.random.default_rng(seed)` and compare
    latents (exactly) and pixels (within tolerance) with the stored ones."""
    root = Path(root)
    manifest, resolved = load_description(root)
    indices = pick_indices(manifest["n"], k, np.random.default_rng(_check_seed(seed)), root)
    report = RerenderReport(root=root, indices=indices.tolist())
    with DatasetReader(root) as reader:
        jobs, drawn, stored = _prepare(reader, resolved, indices, report, progress)
        report.problems += compare_latents(drawn, stored, reader)
        if available is None and device != "cpu":
            from latentscape.renderer.probe import probe_devices
            available = probe_devices()
        cfg = worker_config(resolved, root, worker_plan(device, 1, 1, available or {"CPU": ["CPU"]})[0],
                            recycle_shards=0)
        _render_and_compare(cfg, jobs, reader, report, progress)
    return report


def load_description(root: Path) -> tuple[dict, ResolvedDataset]:
    """The manifest and its stored resolved description, checked as `repair_dataset` checks it."""
    m = load_manifest(root)
    if m["resolved"].get("identity_version") != IDENTITY_VERSION:
        raise DatasetMismatchError(
            f"cannot re-render {root} exactly: it was made by latentscape {m.get('latentscape_version', '0.1')} "
            f"with an older description (identity version {m['resolved'].get('identity_version')!r}, this "
            f"latentscape reads {IDENTITY_VERSION}); check it with the version that made it")
    resolved = ResolvedDataset.from_dict(m["resolved"])
    if resolved.identity() != m["spec_hash"]:
        raise DatasetMismatchError(f"cannot re-render {root} exactly: its manifest's description hashes to "
                                   f"{resolved.identity()}, not its identity {m['spec_hash']}")
    if missing := missing_assets(resolved):
        raise DatasetMismatchError(f"cannot re-render {root} exactly: {len(missing)} asset file(s) of this dataset "
                                   f"are missing here ({missing[0]}); install the asset sources it was made with")
    return m, resolved


def check_count(n: int, k, root) -> int:
    """`k` if it is a number of images to re-render of a dataset of `n`, else SpecError."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise SpecError(f"--rerender K must be an integer in 1..{n} ({root} has {n} images), got {k!r}")
    return int(k)


def pick_indices(n: int, k: int, rng: np.random.Generator, root) -> np.ndarray:
    """`k` distinct image indices of 0..n-1 drawn by `rng`, sorted."""
    return np.sort(rng.choice(n, size=check_count(n, k, root), replace=False))


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SpecError(f"--seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _prepare(reader, resolved, indices, report, progress):
    """Per index: the render job (its lead rows' latents), the drawn and the stored latents.
    Each shard holding a chosen image is drawn whole once (the render order needs it)."""
    from tqdm import tqdm
    by_shard: dict[int, list[int]] = {}
    for i in indices.tolist():
        by_shard.setdefault(reader.locate(i)[0], []).append(i)
    jobs, drawn, stored, devices = [], {}, {}, set()
    for s in tqdm(sorted(by_shard), desc="rerender: drawing latents", unit="shard", dynamic_ncols=True,
                  disable=None if progress else True):
        rec = reader.shards[s]
        lat = resolved.sampler.sample_range(rec["index_start"], rec["index_stop"])
        devices.add(str(reader.shard_attr(by_shard[s][0], "device")))
        for i in by_shard[s]:
            row = i - rec["index_start"]
            jobs.append((i, {name: v[lead_rows(lat, row)] for name, v in lat.items()}))
            drawn[i] = {name: v[row] for name, v in lat.items()}
            stored[i] = reader.row(i)
    report.stored_devices = sorted(devices)
    jobs.sort(key=lambda j: (int(j[1]["object_id"][-1]), int(j[1]["background_id"][-1]), j[0]))  # fewer loads
    return jobs, drawn, stored


def compare_latents(drawn: dict[int, dict], stored: dict[int, dict], reader) -> list[Problem]:
    """One problem per image and latent whose stored value is not exactly the drawn one. Values
    a shard does not store (metadata added by a later version) are not compared."""
    out = []
    for i in sorted(drawn):
        for name, value in drawn[i].items():
            key = _stored_key(name)
            if key is None or key not in stored[i]:
                continue
            have = np.asarray(stored[i][key])
            if have.shape != np.shape(value) or not np.array_equal(have, value, equal_nan=have.dtype.kind == "f"):
                out.append(Problem(_where(reader, i), f"stored latent {key!r} is {_show(have)}, the description "
                                                      f"draws {_show(value)} (latents must be identical)"))
    return out


def _stored_key(name: str) -> str | None:
    """Where a drawn value is stored in a shard row (`DatasetReader.row`), None if it is not compared."""
    if name in LATENTS or name in SCENE_LATENTS or name in DISTRACTOR_LATENTS:
        return name
    return f"meta/{name}" if name in META or name in DESIGN_META or name in CLUTTER_META else None


def _render_and_compare(cfg, jobs, reader, report, progress):
    from tqdm import tqdm
    bar = tqdm(total=len(jobs), desc="rerender", unit="img", dynamic_ncols=True, disable=None if progress else True)

    def on_item(item):
        if item[0] == "ready":
            report.device = item[1]
            return
        _, index, rgb = item
        check = compare_pixels(index, reader.image(index), rgb)
        report.checks.append(check)
        if not check.within_tolerance:
            report.problems.append(Problem(
                _where(reader, index), f"pixels differ from a re-render: {check.pixel_fraction:.1%} of pixels "
                f"differ (at most {MAX_PIXEL_FRACTION:.0%} allowed), mean |d| {check.mean_diff:.2f} grey levels "
                f"(under {MAX_MEAN_DIFF} allowed)"))
        bar.update(1)

    try:
        report.device = run_in_blender_child(rerender_images, cfg, jobs, what="re-render", timeout=SILENT_S,
                                             on_item=on_item)
    finally:
        bar.close()
    report.checks.sort(key=lambda c: c.index)
    report.problems.sort(key=lambda p: int(p.where.split()[1]))


def compare_pixels(index: int, stored: np.ndarray, rendered: np.ndarray) -> ImageCheck:
    """The share of pixels differing in any channel and the mean |difference| of two uint8 images."""
    if stored.shape != rendered.shape:
        return ImageCheck(index, 1.0, float("inf"))
    d = np.abs(stored.astype(np.int16) - rendered.astype(np.int16))
    return ImageCheck(index, float((d > 0).any(-1).mean()), float(d.mean()))


def _where(reader, index: int) -> str:
    return f"image {index} ({reader.shards[reader.locate(index)[0]]['file']})"


def _show(v) -> str:
    a = np.asarray(v)
    return repr(a.item()) if a.ndim == 0 else "[" + ", ".join(repr(x) for x in a.tolist()) + "]"
