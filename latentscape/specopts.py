"""CLI flags that map onto DatasetSpec fields (shared by latents, render, preview, config)."""
from __future__ import annotations

import functools

import click

from latentscape.config import QUALITY_PRESETS, DatasetSpec, load_yaml, parse_dist, parse_fix, parse_vary
from latentscape.errors import SpecError
from latentscape.latents.designs import DESIGN_KINDS, Design, parse_levels
from latentscape.presets import PRESETS, preset_path
from latentscape.latents.distributions import Dist, show_value
from latentscape.latents.space import PARAMS, check_dist, check_value

SPEC_OPTIONS = [
    click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML spec file; flags override it."),
    click.option("--n", type=int, help="Number of images."),
    click.option("--seed", type=int, help="Dataset seed."),
    click.option("--shard-size", type=int, help="Images per shard file."),
    click.option("--resolution", type=int, help="Image side in pixels (8..4096)."),
    click.option("--fov", "fov_deg", type=float, help="Camera field of view, degrees."),
    click.option("--vary", help="Groups to vary: all, none or a list like pose,position."),
    click.option("--fix", "fix", multiple=True, help="Hold a latent at a value: NAME=VALUE (repeatable)."),
    click.option("--dist", "dist", multiple=True, help="Distribution: NAME=uniform:LO:HI, normal:MEAN:STD[:LO:HI], choice:A,B, fixed:V, so3."),
    click.option("--position-mode", type=click.Choice(["image", "box"]), help="Sample position by image coords + distance, or in a 3D box."),
    click.option("--pose-mode", type=click.Choice(["so3", "euler", "upright", "facing"]),
                 help="so3: Haar-uniform rotations; euler: per-angle distributions; upright: any yaw, pitch and "
                      "roll within +-20 deg; facing: each angle within +-45 deg of facing the camera."),
    click.option("--margin", type=float, help="Free border kept around the object's projected box (fraction of the image side)."),
    click.option("--categories", help="Restrict to these categories (comma-separated names)."),
    click.option("--category-sampling", type=click.Choice(["balanced", "objects"]), help="Uniform over categories then objects, or over objects."),
    click.option("--library", help="Asset sources joined by '+': default, procedural, furniture, placeholder."),
    click.option("--assets", "assets", multiple=True, help="User model folder ROOT/<category>/<model>.<ext> (repeatable)."),
    click.option("--license", "license", type=click.Choice(["any", "cc0"]), help="Keep only CC0 objects with cc0."),
    click.option("--skip-bad-assets", is_flag=True, default=None, help="Warn about unreadable user models instead of failing."),
    click.option("--backgrounds", "backgrounds", multiple=True, help="Folder of HDRI files (.exr, .hdr) to add (repeatable)."),
    click.option("--quality", type=click.Choice(["draft", "standard", "high"]),
                 help="Render settings from a measured quality/cost point (default standard; docs/quality.md); "
                      "--samples and --denoise override it."),
    click.option("--samples", type=int, help="Cycles samples per pixel (overrides --quality)."),
    click.option("--denoise/--no-denoise", default=None, help="OIDN denoising with albedo and normal guides "
                                                               "(overrides --quality)."),
    click.option("--passes", help="Extra passes to store: mask, depth (comma-separated)."),
    click.option("--canonical-pose", type=click.Choice(["three_quarter", "front"]),
                 help="The pose rotations are relative to: three_quarter (default; turned 30 deg, seen from 20 deg "
                      "above) or front (facing the camera head-on; before 0.3, and the default of --pose-mode facing)."),
    click.option("--view-transform", type=click.Choice(["agx", "standard"]),
                 help="Colour: agx (default; highlights roll off) or standard (plain sRGB, clips; before 0.3)."),
    click.option("--min-visible", type=float,
                 help="Share of the image's pixels each object must cover, decided before rendering from its "
                      "convex hull (default 0.005; 0 turns the guarantee off)."),
    click.option("--min-contrast", type=float,
                 help="On solid-colour backgrounds (every template but a user's .blend): least predicted difference "
                      "(0..255) in mean luminance between the object and its surround (default 10; 0 turns "
                      "the guarantee off)."),
    click.option("--size", type=click.Choice(["unit", "real"]),
                 help="unit: every object's longest side is 1 m (default); real: the catalogue's real-world size, "
                      "with the position ranges scaled by it."),
    click.option("--compression", help="Shard compression: none, lzf, gzip-N, zstd."),
    click.option("--frame", type=click.Choice(["box", "centre"]),
                 help="In-frame rule: box (default; the whole projected bounding box inside the frame, with "
                      "--margin) or centre (only the centre: objects may be cut by the frame edge)."),
    click.option("--scene", help="Scene template: studio (default), hdri, ground, room, or FILE.blend, your own "
                                  "scene with an empty or collection named latentscape_region where the object goes "
                                  "(docs/scenes.md)."),
    click.option("--distractors", help="Other library objects placed around the target per image: N, A:B (each "
                                        "count from A to B equally likely) or A,B,C (docs/scenes.md, clutter)."),
    click.option("--max-occlusion", type=float,
                 help="Re-draw an image's distractors while they are predicted to hide more than this share "
                      "(0..1) of the target (counted per image); needs --distractors."),
    click.option("--preset", help="Start from a shipped preset spec: " + ", ".join(PRESETS) +
                 " (docs/presets.md); --config is not allowed with it, flags override it."),
    click.option("--design", type=click.Choice(["iid", *DESIGN_KINDS[:3]]),
                 help="iid (default): independent draws; grid: every combination of --levels; sweep: --n-base "
                      "draws each swept along --sweep; pairs: image pairs that differ in --differ (docs/designs.md)."),
    click.option("--levels", "levels", multiple=True,
                 help="grid: NAME=START:STOP:COUNT (angles in degrees; STOP excluded for circular latents) or "
                      "NAME=A,B,C (values or names); repeatable, first slowest."),
    click.option("--others", type=click.Choice(["fixed", "random"]),
                 help="grid: the latents without levels held at their canonical values (fixed, default) or drawn "
                      "per image (random)."),
    click.option("--sweep", "sweep", help="sweep: the swept latent's levels, NAME=START:STOP:COUNT or NAME=A,B,C."),
    click.option("--n-base", type=int, help="sweep: number of base draws (n = n-base x levels)."),
    click.option("--differ", help="pairs: groups the two images of a pair differ in, e.g. pose or pose,scale."),
    click.option("--k-random", type=int, help="pairs: instead of --differ, K groups picked at random per pair."),
    click.option("--max-n", type=int, help="Largest grid or sweep accepted (default 1,000,000)."),
]


def spec_options(f):
    for opt in reversed(SPEC_OPTIONS):
        f = opt(f)

    @functools.wraps(f)
    def wrapper(*args, **kw):
        spec_kw = {k: kw.pop(k) for k in list(kw) if k in _SPEC_KEYS}
        kw["spec"] = spec_from_flags(**spec_kw)
        return f(*args, **kw)
    return wrapper


# Fields whose default depends on others (position_mode and pose_mode on the scene, canonical_pose on pose_mode and the scene,
# the guarantees on vary).
DERIVED_DEFAULTS = ("position_mode", "pose_mode", "canonical_pose", "min_visible", "min_contrast")

_DESIGN_KEYS = ("preset", "design", "levels", "others", "sweep", "n_base", "differ", "k_random", "max_n")
_SPEC_KEYS = {"config_path", "n", "seed", "shard_size", "resolution", "fov_deg", "vary", "fix", "dist",
              "position_mode", "pose_mode", "canonical_pose", "margin", "min_visible", "min_contrast", "size", "categories", "category_sampling", "library",
              "assets", "license", "skip_bad_assets", "backgrounds",
              "samples", "denoise", "passes", "view_transform", "compression", "quality", "frame", "scene",
              "distractors", "max_occlusion",
              *_DESIGN_KEYS}


def spec_from_flags(config_path=None, fix=(), dist=(), samples=None, denoise=None, passes=None,
                    view_transform=None, compression=None, quality=None, preset=None, design=None, levels=(),
                    others=None, sweep=None, n_base=None, differ=None, k_random=None, max_n=None,
                    **flags) -> DatasetSpec:
    """Start from the YAML file (or a preset, or the defaults) and apply every flag given.

    Each --fix and --dist is checked on its own first, so its error names the flag as typed.
    """
    if preset is not None:
        if config_path:
            raise SpecError("give --preset or --config, not both (copy the preset to a file to edit it: "
                            "latentscape config --preset NAME > spec.yaml)")
        config_path = str(preset_path(preset))
    base = DatasetSpec.from_yaml(config_path).to_dict() if config_path else DatasetSpec().to_dict()
    written = set(load_yaml(config_path)) if config_path else set()
    new_design = _design_from_flags(design, levels, others, sweep, n_base, differ, k_random, max_n)
    if new_design is not False:
        base["design"] = new_design.to_dict() if new_design else None
        if new_design and new_design.derives_n() and flags.get("n") is None:
            base.pop("n", None)  # follows from the design
    for k in DERIVED_DEFAULTS:  # not written down: derive them again from the fields as the flags leave them
        if k not in written:
            base[k] = None
    given = [k for k, v in flags.items() if v not in (None, ())]
    for k in given:
        v = flags[k]
        if k in ("assets", "backgrounds"):
            v = list(v)
        base[k] = list(parse_vary(v, "--vary")) if k == "vary" else v
    if fix:
        base["fix"] = {**base["fix"], **_checked_fixes(fix)}
    if dist:
        base["distributions"] = {**base["distributions"], **_checked_dists(dist)}
    render = dict(base["render"])
    if quality is not None:
        render = {**render, **QUALITY_PRESETS[quality], "quality": quality}
    if samples is not None:
        render["samples"] = samples
    if denoise is not None:
        render["denoise"] = denoise
    if passes is not None:
        render["passes"] = [p.strip() for p in passes.split(",") if p.strip()]
    if view_transform is not None:
        render["view_transform"] = view_transform
    if render.get("quality") and any(render.get(k) != v for k, v in QUALITY_PRESETS[render["quality"]].items()):
        render["quality"] = None  # overridden: no longer the preset, say so
    base["render"] = render
    if compression is not None:
        base["storage"] = {"compression": compression}
    any_flag = given or fix or dist or {samples, denoise, passes, view_transform, compression, quality} != {None} \
        or new_design is not False
    where = f"{config_path} with flags" if config_path and any_flag else (config_path or "flags")
    return DatasetSpec.from_dict(base, where=where)


def _design_from_flags(kind, levels, others, sweep, n_base, differ, k_random, max_n):
    """The design the flags describe: a Design, None (--design iid) or False (no design flag: keep the file's)."""
    used = {"--levels": bool(levels), "--others": others is not None, "--sweep": sweep is not None,
            "--n-base": n_base is not None, "--differ": differ is not None, "--k-random": k_random is not None,
            "--max-n": max_n is not None}
    given = [k for k, v in used.items() if v]
    if kind is None:
        if given:
            raise SpecError(f"{given[0]} belongs to a design; add --design grid, sweep or pairs")
        return False
    belongs = {"iid": (), "grid": ("--levels", "--others", "--max-n"), "sweep": ("--sweep", "--n-base", "--max-n"),
               "pairs": ("--differ", "--k-random")}[kind]
    stray = [k for k in given if k not in belongs]
    if stray:
        raise SpecError(f"{stray[0]} does not apply to --design {kind}; it takes {', '.join(belongs) or 'no option'}")
    if kind == "iid":
        return None
    kw = {"max_n": max_n} if max_n is not None else {}
    if kind == "grid":
        if not levels:
            raise SpecError("--design grid needs --levels NAME=START:STOP:COUNT (or NAME=A,B,C), one per latent")
        return Design(kind="grid", levels=tuple(parse_levels(x) for x in levels), others=others or "fixed", **kw)
    if kind == "sweep":
        if sweep is None or n_base is None:
            raise SpecError("--design sweep needs --sweep NAME=START:STOP:COUNT and --n-base N")
        return Design(kind="sweep", levels=(parse_levels(sweep, "--sweep"),), n_base=n_base, **kw)
    groups = tuple(g.strip() for g in differ.split(",")) if differ is not None else ()
    return Design(kind="pairs", differ=groups, k_random=k_random or 0)


def _checked_fixes(items) -> dict:
    """--fix NAME=VALUE items as {name: value}, each value checked against the latent table."""
    out = parse_fix(list(items))
    for item in items:
        name = item.partition("=")[0].strip()
        if name in PARAMS:
            try:
                check_value(name, out[name])
            except SpecError as e:
                raise SpecError(f"--fix {show_value(item)}: {e}") from None
    return out


def _checked_dists(items) -> dict:
    """--dist NAME=KIND:ARGS items as {name: dict}, each built and checked against the latent table."""
    out = {}
    for item in items:
        name, d = parse_dist(item)
        try:
            dist = Dist.from_dict(d)
            if name in PARAMS:
                check_dist(name, dist)
        except SpecError as e:
            raise SpecError(f"--dist {show_value(item)}: {str(e).removeprefix(': ')}") from None
        out[name] = d
    return out
