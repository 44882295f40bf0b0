"""Resolve once: a validated spec becomes one frozen description of the dataset.

`resolve(spec)` picks the concrete asset sources ("default" becomes e.g.
procedural + furniture), builds the object table (with content hashes), the
background table and every distribution. The description's hash is the dataset's
identity. Repairs rebuild it from the manifest (`ResolvedDataset.from_dict`); workers
receive its typed tables (`renderer.worker.WorkerConfig`); neither resolves again: what
they cannot load exactly is an error, never a substitute.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from latentscape.assets.backgrounds import Background, backgrounds_for
from latentscape.assets.library import AssetLibrary, ObjectInfo
from latentscape.assets.sources import build_library, resolve_sources
from latentscape.config import DatasetSpec, spec_hash
from latentscape.errors import DatasetMismatchError, SpecError
from latentscape.latents.design_sampling import DesignSampler
from latentscape.latents.distributions import Dist, fixed
from latentscape.latents.sampling import DrawRules, LatentSampler
from latentscape.latents.space import PARAMS, default_dist, varying_groups
from latentscape.resolve_scene import (SCENE_CHOICES, ResolvedScene, check_and_fix, check_backgrounds, resolve_scene,
                                       scene_choice_index, scene_indices)

IDENTITY_VERSION = 2  # 1: names only (latentscape 0.1); 2: concrete sources and content hashes
SCENE = "studio"


@dataclass(frozen=True)
class ResolvedDataset:
    """Everything that decides a dataset's labels and pixels, with nothing left to look up."""

    spec: DatasetSpec
    sources: tuple[str, ...]
    library: AssetLibrary
    backgrounds: tuple[Background, ...]
    distributions: tuple[tuple[str, Dist], ...]
    scene: str = SCENE  # the template (latentscape.blender_scenes.SCENES)
    block_distributions: tuple[tuple[tuple[str, Dist], ...], ...] = ()  # a blocks design: each block's
    scene_info: ResolvedScene = ResolvedScene()  # a user's .blend: its path, hash and region (checked once)

    @property
    def dists(self) -> dict[str, Dist]:
        return dict(self.distributions)

    @cached_property
    def sampler(self) -> LatentSampler | DesignSampler:
        """Draws each image's latents: a `LatentSampler`, or a `DesignSampler` for a designed dataset."""
        design = self.spec.design
        if design is None:
            return self._latent_sampler(self.dists)
        if design.kind == "blocks":
            return DesignSampler(design, [self._latent_sampler(dict(b)) for b in self.block_distributions], ())
        return DesignSampler(design, [self._latent_sampler(self.dists)], self.design_levels())

    def _latent_sampler(self, dists: dict) -> LatentSampler:
        s = self.spec
        rules = DrawRules(s.seed, s.fov_deg, s.margin, s.position_mode, s.pose_mode, s.category_sampling,
                          s.canonical_pose, s.min_visible, s.min_contrast, s.size, s.render.view_transform, s.frame,
                          self.scene, self.scene_info.region, s.distractors, s.max_occlusion,
                          self.distractor_pool() if max(s.distractors) else ())
        return LatentSampler(rules, dists, self.library, tuple((b.kind, b.rgb) for b in self.backgrounds))

    def distractor_pool(self) -> tuple[int, ...]:
        """Object ids distractors are drawn from: every object of the spec's categories (all without
        --categories), whatever the target's distribution."""
        cats = set(self.spec.categories)
        return tuple(o.id for o in self.library.objects if not cats or o.category in cats)

    def design_levels(self) -> tuple[tuple[str, tuple], ...]:
        """The design's levels with categorical values as indices (the values the images hold)."""
        return tuple((k, _level_indices(k, v, self.library, len(self.backgrounds)))
                     for k, v in (self.spec.design.levels if self.spec.design else ()))

    def varying_groups(self) -> list[str]:
        if self.block_distributions:
            union = {g for b in self.block_distributions for g in varying_groups(dict(b), self.scene)}
            return [g for g in varying_groups({**self.dists}, self.scene) + sorted(union) if g in union]
        return varying_groups(self.dists, self.scene)

    # ---- identity ----------------------------------------------------------
    def to_dict(self) -> dict:
        """The identity document (stored in the manifest and every shard; hashed)."""
        return {
            "identity_version": IDENTITY_VERSION,
            "spec": self.spec.identity_dict(),
            "sources": list(self.sources),
            "scene": self.scene,
            **self.scene_info.record(),
            "distributions": {k: d.to_dict() for k, d in self.distributions},
            "categories": self.library.categories,
            "objects": [_object_record(o, self._object_keys()) for o in self.library.objects],
            "skipped": list(self.library.skipped),
            "backgrounds": [_background_record(b) for b in self.backgrounds],
            **({"block_distributions": [{k: d.to_dict() for k, d in b} for b in self.block_distributions]}
               if self.block_distributions else {}),
        }

    def _object_keys(self) -> tuple[str, ...]:
        """What the object records hold: the hull and colour when a guarantee uses them, the real
        size with --size real (so datasets made without them keep their identity)."""
        s = self.spec
        hull = s.grounded or max(s.distractors) > 0  # standing objects and the occlusion prediction use it
        extra = ("hull", "colour") if s.min_visible > 0 or s.min_contrast > 0 else ("hull",) if hull else ()
        return _OBJECT_KEYS + extra + (("size_m",) if s.size == "real" else ())

    def identity(self) -> str:
        """The dataset's identity: a hash of `to_dict()` (16 hex digits)."""
        return spec_hash(self.to_dict())

    def spec_hash(self) -> str:  # the manifest's historical name for the identity
        return self.identity()

    def legacy_identity(self) -> str:
        """The identity latentscape 0.1 gave this spec (names only), to recognise its roots."""
        return spec_hash({"spec": self.spec.identity_dict(), "schema_version": 1,
                          "distributions": {k: d.to_dict() for k, d in self.distributions},
                          "categories": self.library.categories,
                          "objects": [o.name for o in self.library.objects],
                          "backgrounds": [b.name for b in self.backgrounds]})

    @staticmethod
    def from_dict(d: dict) -> "ResolvedDataset":
        """Rebuild from `to_dict()` (a manifest's `resolved`) without resolving anything again;
        HDRI files are found by name on this machine."""
        if d.get("identity_version") != IDENTITY_VERSION:
            raise DatasetMismatchError(f"resolved description has identity version {d.get('identity_version')!r}; "
                                       f"this latentscape reads {IDENTITY_VERSION}")
        spec = DatasetSpec.from_identity_dict(d["spec"], where="resolved spec")
        objects = tuple(ObjectInfo(id=i, **_object_fields(r)) for i, r in enumerate(d["objects"]))
        library = AssetLibrary(name=spec.library, objects=objects, skipped=tuple(d.get("skipped", ())))
        paths = _local_background_paths(spec, d["backgrounds"])
        backgrounds = tuple(_background(r, p) for r, p in zip(d["backgrounds"], paths))
        dists = tuple((k, Dist.from_dict(v, f"resolved distributions.{k}")) for k, v in d["distributions"].items())
        blocks = tuple(tuple((k, Dist.from_dict(v, f"resolved block distributions.{k}")) for k, v in b.items())
                       for b in d.get("block_distributions", ()))
        scene = d.get("scene", SCENE)
        return ResolvedDataset(spec, tuple(d["sources"]), library, backgrounds, dists, scene, blocks,
                               ResolvedScene.from_record(scene, spec.scene, d))

    def stage_scene(self) -> dict:
        """The scene arguments of `StageSettings.for_spec`: the template and, for a .blend, the file and its hash."""
        return {"scene": self.scene, "scene_file": self.scene_info.file, "scene_file_sha256": self.scene_info.sha256}


def resolve(spec: DatasetSpec) -> ResolvedDataset:
    """Resolve a validated spec: concrete sources, objects, backgrounds, distributions."""
    scene = resolve_scene(spec)  # a .blend is checked before the library is built
    sources = tuple(resolve_sources(spec.library))
    library = asset_library("+".join(sources), spec.assets, spec.license, spec.skip_bad_assets)
    backgrounds = tuple(backgrounds_for(spec))
    dists = _resolve_dists(spec, library, backgrounds)
    blocks = tuple(tuple(sorted(_resolve_dists(b, library, backgrounds).items())) for b in block_specs(spec))
    resolved = ResolvedDataset(spec, sources + tuple(f"folder:{Path(f).resolve()}" for f in spec.assets), library,
                               backgrounds, tuple(sorted(dists.items())), scene.template, blocks, scene)
    resolved.design_levels()  # categorical level names that do not exist: one line now
    return resolved


def block_specs(spec: DatasetSpec) -> list[DatasetSpec]:
    """One spec per block of a blocks design: the spec with the block's vary, fix and distributions."""
    if spec.design is None or spec.design.kind != "blocks":
        return []
    base = {**spec.to_dict(), "design": None}
    out = []
    for b in spec.design.blocks:
        fix = {**base["fix"], **{k: (list(v) if isinstance(v, tuple) else v) for k, v in b.fix}}
        dists = {**base["distributions"], **{k: d.to_dict() for k, d in b.distributions}}
        out.append(DatasetSpec.from_dict({**base, "n": b.n, "vary": list(b.vary), "fix": fix, "distributions": dists},
                                         where=f"design block {b.name}"))
    return out


def asset_library(library: str = "default", folders=(), licence: str = "any", skip_bad: bool = False) -> AssetLibrary:
    """The asset library, with user model files checked in a Blender child process."""
    from latentscape.renderer.asset_probe import probe_models
    return build_library(library, tuple(folders), licence, skip_bad, probe=probe_models)


def check_identity(root_manifest: dict, resolved: ResolvedDataset, root) -> None:
    """Refuse, in one line, a root whose dataset is not `resolved` (older version, other spec)."""
    stored = root_manifest.get("resolved", {})
    if stored.get("identity_version") != IDENTITY_VERSION:
        same = root_manifest.get("spec_hash") == resolved.legacy_identity()
        raise DatasetMismatchError(
            f"{root} was made by latentscape {root_manifest.get('latentscape_version', '0.1')} "
            f"(identity {root_manifest.get('spec_hash')}, an older scheme without content hashes)"
            + ("; it is the same spec, but this version cannot add shards to it" if same else "")
            + ": finish it with the version that made it (pip install latentscape=="
            f"{root_manifest.get('latentscape_version', '0.1.0')}), or render into a new --out")
    if root_manifest.get("spec_hash") != resolved.identity():
        raise DatasetMismatchError(f"{root} holds a different dataset (identity {root_manifest.get('spec_hash')}, "
                                   f"this spec {resolved.identity()}: {describe_difference(stored, resolved)}); "
                                   f"use --overwrite to replace it or choose another --out")


def describe_difference(stored: dict, resolved: ResolvedDataset) -> str:
    """What differs between a stored identity document and this resolution (first difference)."""
    now = resolved.to_dict()
    if stored.get("spec") != now["spec"]:
        keys = sorted(k for k in set(now["spec"]) | set(stored.get("spec", {}))
                      if now["spec"].get(k) != stored.get("spec", {}).get(k))
        return f"spec differs in {', '.join(keys)}"
    for key in ("sources", "objects", "backgrounds", "categories", "distributions", "scene"):
        if stored.get(key) != now.get(key):
            return _list_difference(key, stored.get(key), now.get(key))
    return "unknown difference"


def _list_difference(key: str, then, now) -> str:
    if isinstance(then, list) and isinstance(now, list):
        name = (lambda r: r.get("name") if isinstance(r, dict) else r)
        gone = [name(r) for r in then if r not in now]
        if gone:
            return f"{len(gone)} of its {key} differ or are not available here (e.g. {gone[0]!r})"
    return f"its {key} differ"


# ---- distributions -------------------------------------------------------------
def _resolve_dists(spec: DatasetSpec, lib: AssetLibrary, backgrounds: tuple[Background, ...]) -> dict[str, Dist]:
    fixes = dict(spec.fix)
    overrides = spec.dist_overrides()
    design = spec.design
    levels = dict(design.levels) if design is not None and design.kind in ("grid", "sweep") else {}
    others_fixed = design is not None and design.kind == "grid" and design.others == "fixed"
    out = {}
    for name in spec.active_params():
        p = PARAMS[name]
        if name in levels:  # the images hold the levels: a choice over them says so in the schema
            out[name] = Dist(kind="choice", values=tuple(levels[name]))
        elif name in fixes:
            out[name] = fixed(fixes[name])
        elif p.group in spec.vary and not others_fixed:
            out[name] = overrides.get(name, default_dist(name, spec.pose_mode))
        else:
            out[name] = fixed(p.canonical)
    _resolve_indices(out, spec, lib, len(backgrounds), fixes)
    explicit = "background_id" in fixes or "background_id" in overrides
    out["background_id"] = check_backgrounds(spec.template, spec.scene, out["background_id"], backgrounds, explicit)
    check_and_fix(spec, out, spec.template)
    scene_indices(out)
    return out


def _level_indices(name: str, values: tuple, lib: AssetLibrary, n_backgrounds: int) -> tuple:
    if name == "category":
        return tuple(lib.category_index(v) for v in values)
    if name == "object_id":
        return tuple(lib.object_index(v) for v in values)
    if name == "background_id":
        return tuple(_bg_index(v, n_backgrounds) for v in values)
    if name in SCENE_CHOICES:
        return tuple(scene_choice_index(name, v) for v in values)
    return tuple(values)


def _resolve_indices(out, spec, lib, n_backgrounds, fixes):
    allowed_cats = [lib.category_index(c) for c in spec.categories] or list(range(len(lib.categories)))
    out["category"] = _index_dist(out["category"], lib.category_index, allowed_cats, "category")
    if out["category"].kind == "fixed" and "category" not in fixes:
        out["category"] = fixed(allowed_cats[0])
    d = out["object_id"]
    if d.kind == "fixed" and "object_id" in fixes:
        obj = lib.object_index(d.value)
        cat = lib.category_index(lib.objects[obj].category)
        if "category" in fixes and out["category"].value != cat:
            raise SpecError(f"fix object_id={d.value!r} is in category {lib.categories[cat]!r}, "
                            f"but category is fixed to {lib.categories[out['category'].value]!r}")
        out["object_id"], out["category"] = fixed(obj), fixed(cat)
    elif d.kind == "fixed":
        out["object_id"] = fixed("first")
    else:
        members = [o.id for o in lib.objects if lib.category_index(o.category) in allowed_cats]
        out["object_id"] = _index_dist(d, lib.object_index, members, "object_id")
    bg = out["background_id"]
    out["background_id"] = _index_dist(bg, lambda v: _bg_index(v, n_backgrounds), list(range(n_backgrounds)),
                                       "background_id")


def _index_dist(d: Dist, to_index, allowed: list[int], what: str) -> Dist:
    if d.kind == "fixed":
        return fixed(to_index(d.value))
    values = allowed if d.values is None else [to_index(v) for v in d.values]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise SpecError(f"{what} value(s) {bad} are excluded by the category selection")
    return Dist(kind="choice", values=tuple(values), weights=d.weights)


def _bg_index(v, n):
    if isinstance(v, int) and 0 <= v < n:
        return v
    raise SpecError(f"background_id {v!r} out of range 0..{n - 1}")


# ---- records -------------------------------------------------------------------
_OBJECT_KEYS = ("name", "category", "extents", "source", "licence", "builder", "sha256", "triangles", "creator",
                "rotation")


_OPTIONAL_KEYS = ("hull", "colour", "size_m")


def _object_record(o: ObjectInfo, keys=_OBJECT_KEYS) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k in keys for v in [getattr(o, k)]}


def _object_fields(r: dict) -> dict:
    f = {k: r[k] for k in _OBJECT_KEYS + _OPTIONAL_KEYS if k in r}
    f["extents"] = tuple(float(x) for x in f["extents"])
    f["rotation"] = tuple(f["rotation"]) if f.get("rotation") else None
    if f.get("colour") is not None:
        f["colour"] = tuple(float(x) for x in f["colour"])
    return f


def _background_record(b: Background) -> dict:
    return {"name": b.name, "kind": b.kind, "licence": b.licence, "rgb": list(b.rgb) if b.rgb else None,
            "file": Path(b.path).name if b.path else None, "sha256": _file_sha256(b.path) if b.path else None}


def _background(r: dict, path) -> Background:
    return Background(name=r["name"], kind=r["kind"], rgb=tuple(r["rgb"]) if r.get("rgb") else None,
                      path=path, licence=r.get("licence", ""))


def _local_background_paths(spec: DatasetSpec, records: list[dict]) -> list:
    """HDRI paths on this machine for stored background records (by name, in table order)."""
    here = {b.name: b.path for b in backgrounds_for(spec)}
    return [here.get(r["name"]) for r in records]


_SHA_CACHE: dict[tuple, str] = {}


def _file_sha256(path: str) -> str:
    """sha256 of a background file (cached per process by path, size and mtime)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return "missing"
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]

