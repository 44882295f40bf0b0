"""CLI flags that map onto DatasetSpec fields (shared by latents, render, preview, config)."""
from __future__ import annotations

import functools

import click

from latentscape.config import DatasetSpec, parse_dist, parse_fix, parse_vary

SPEC_OPTIONS = [
    click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML spec file; flags override it."),
    click.option("--n", type=int, help="Number of images."),
    click.option("--seed", type=int, help="Dataset seed."),
    click.option("--shard-size", type=int, help="Images per shard file."),
    click.option("--resolution", type=int, help="Image side in pixels (8..4096)."),
    click.option("--fov", "fov_deg", type=float, help="Camera field of view, degrees."),
    click.option("--vary", help="Groups to vary: all, none or a list like pose,position."),
    click.option("--fix", "fix", multiple=True, help="Hold a latent at a value: NAME=VALUE (repeatable)."),
    click.option("--dist", "dist", multiple=True, help="Distribution: NAME=uniform:LO:HI, normal:MEAN:STD, choice:A,B, fixed:V."),
    click.option("--position-mode", type=click.Choice(["image", "box"]), help="Sample position by image coords + distance, or in a 3D box."),
    click.option("--pose-mode", type=click.Choice(["so3", "euler"]), help="Haar-uniform rotations or per-angle distributions."),
    click.option("--margin", type=float, help="Free border kept around the object's projected box (fraction of the image side)."),
    click.option("--categories", help="Restrict to these categories (comma-separated names)."),
    click.option("--category-sampling", type=click.Choice(["balanced", "objects"]), help="Uniform over categories then objects, or over objects."),
    click.option("--library", help="Asset sources joined by '+': default, procedural, furniture, placeholder."),
    click.option("--assets", "assets", multiple=True, help="User model folder ROOT/<category>/<model>.<ext> (repeatable)."),
    click.option("--license", "license", type=click.Choice(["any", "cc0"]), help="Keep only CC0 objects with cc0."),
    click.option("--skip-bad-assets", is_flag=True, default=None, help="Warn about unreadable user models instead of failing."),
    click.option("--backgrounds", "backgrounds", multiple=True, help="Folder of HDRI files (.exr, .hdr) to add (repeatable)."),
    click.option("--samples", type=int, help="Cycles samples per pixel."),
    click.option("--denoise/--no-denoise", default=None, help="OIDN denoising (fast prefilter)."),
    click.option("--passes", help="Extra passes to store: mask, depth (comma-separated)."),
    click.option("--compression", help="Shard compression: none, lzf, gzip-N, zstd."),
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


_SPEC_KEYS = {"config_path", "n", "seed", "shard_size", "resolution", "fov_deg", "vary", "fix", "dist",
              "position_mode", "pose_mode", "margin", "categories", "category_sampling", "library",
              "assets", "license", "skip_bad_assets", "backgrounds",
              "samples", "denoise", "passes", "compression"}


def spec_from_flags(config_path=None, fix=(), dist=(), samples=None, denoise=None, passes=None,
                    compression=None, **flags) -> DatasetSpec:
    """Start from the YAML file (or defaults) and apply every flag given."""
    base = DatasetSpec.from_yaml(config_path).to_dict() if config_path else DatasetSpec().to_dict()
    for k, v in flags.items():
        if k in ("assets", "backgrounds"):
            v = list(v) or None
        if v is not None:
            base[k] = list(parse_vary(v, "--vary")) if k == "vary" else v
    if fix:
        base["fix"] = {**base["fix"], **parse_fix(list(fix))}
    if dist:
        base["distributions"] = {**base["distributions"], **dict(parse_dist(d) for d in dist)}
    render = dict(base["render"])
    if samples is not None:
        render["samples"] = samples
    if denoise is not None:
        render["denoise"] = denoise
    if passes is not None:
        render["passes"] = [p.strip() for p in passes.split(",") if p.strip()]
    base["render"] = render
    if compression is not None:
        base["storage"] = {"compression": compression}
    return DatasetSpec.from_dict(base, where=config_path or "flags")
