"""The `latentscape` command line. Every error is one line on stderr and a non-zero exit."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from latentscape.errors import LatentscapeError
from latentscape.cli_cluster import executor_options, status
from latentscape.cli_publish import publish
from latentscape.specopts import spec_options


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="latentscape")
def cli():
    """Render synthetic image datasets of 3D objects labelled with every generative factor."""


@cli.command()
@spec_options
@click.option("--out", required=True, type=click.Path(), help="HDF5 file to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def latents(spec, out, overwrite):
    """Sample latents only (no images) into one HDF5 file, for inspection and tests."""
    from latentscape.api import write_latents
    path = write_latents(spec, out, overwrite, progress=_bar)  # checks --out before sampling
    click.echo(f"wrote {spec.n} latent rows to {path}")


@cli.command()
@click.argument("root", type=click.Path())
@click.option("--plot", type=click.Path(), help="Save histograms of every varying latent to this PNG.")
@click.option("--fidelity", is_flag=True, help="Also measure what the images show: object coverage, clipped "
                                                "pixels, contrast to the surround (docs/fidelity.md).")
def info(root, plot, fidelity):
    """Summarise a dataset: size, shards, varying and fixed groups, latent ranges."""
    from latentscape.dataset.info import describe, plot_histograms
    from latentscape.outpaths import IMAGE_SUFFIXES, check_output_file
    if plot is not None:
        check_output_file(plot, overwrite=True, suffixes=IMAGE_SUFFIXES, what="--plot")
    click.echo(describe(root))
    if fidelity:
        from latentscape.dataset.fidelity import report
        click.echo(report(root))
    if plot is not None:
        k = plot_histograms(root, plot)
        click.echo(f"saved {k} histogram(s) to {plot}")


_DEVICES = click.Choice(["auto", "cpu", "cuda", "optix", "hip", "oneapi", "metal"])


@cli.command()
@click.argument("root", type=click.Path())
@click.option("--fast", is_flag=True, help="Skip sha256 hashing.")
@click.option("--rerender", type=int, default=None, metavar="K",
              help="Also re-render K random images from the description stored in ROOT: their latents must be "
                   "identical, their pixels within the determinism tolerance (docs/determinism.md).")
@click.option("--seed", type=click.IntRange(0), default=None, help="Seed that picks the --rerender images (default 0).")
@click.option("--device", type=_DEVICES, default=None, help="Device for --rerender (default cpu).")
@click.option("--workers", type=click.IntRange(1, 1024), default=1, show_default=True,
              help="Processes checking shards in parallel (hashing a big dataset is CPU-bound).")
def verify(root, fast, rerender, seed, device, workers):
    """Check a dataset (or a release: a folder with release.json, or LOCATION/NAME@VERSION) is whole;
    exit 0 only if no problem is found."""
    from latentscape.api import verify as run_verify
    from latentscape.dataset.remote import fetch_release, is_release_ref
    if is_release_ref(root):
        root = str(fetch_release(root, progress=lambda it: _bar(it, desc="fetch", unit="file")))
    if rerender is None and (seed is not None or device is not None):
        raise click.UsageError("--seed and --device choose how --rerender works; add --rerender K")
    if rerender is not None:  # a bad K is one line before the (long) sha256 pass
        from latentscape.dataset.manifest import load_manifest
        from latentscape.pipeline.rerender import check_count
        check_count(load_manifest(root)["n"], rerender, root)
    report = run_verify(root, fast=fast, progress=lambda it: _bar(it, desc="verify", unit="shard"), workers=workers)
    problems, s = report.problems, report.summary
    if Path(root, "release.json").exists():  # a release: every file and its identity, as release.json records
        from latentscape.publish.release import check_release_files
        problems = list(problems) + check_release_files(Path(root))
    for p in problems:
        click.echo(f"PROBLEM {p}")
    if problems:
        click.echo(f"{len(problems)} problem(s) in {root}"
                   + ("; --rerender skipped (fix these first)" if rerender is not None else ""), err=True)
        sys.exit(1)
    if s["empty_images"]:
        e = s["empty_images"]
        click.echo(f"note: {len(e)} image(s) show no object pixel (visible_fraction 0), e.g. index "
                   f"{', '.join(map(str, e[:5]))}; they are kept, select them out with meta/visible_fraction")
    click.echo(f"ok: {s['images']} images in {s['shards']} shard(s), {s['bytes'] / 1e6:.1f} MB, "
               f"indices 0..{s['n'] - 1} complete{'' if fast else ', sha256 verified'}"
               + ("; release files and identity as release.json records" if Path(root, "release.json").exists()
                  else ""))
    if rerender is not None:
        _verify_rerender(root, rerender, 0 if seed is None else seed, device or "cpu")


def _verify_rerender(root, k, seed, device):
    from latentscape.api import rerender_check
    report = rerender_check(root, k, seed=seed, device=device, progress=True)
    for p in report.problems:
        click.echo(f"PROBLEM {p}")
    click.echo(report.line(), err=not report.ok)
    if not report.ok:
        sys.exit(1)


@cli.command("config")
@spec_options
@click.option("--dump", is_flag=True, help="Print the full spec (all defaults filled) as YAML.")
@click.option("--resolved", is_flag=True, help="Print the resolved description (concrete sources, objects with "
              "content hashes, backgrounds, distributions) and its identity hash instead.")
def config_cmd(spec, dump, resolved):
    """Show the dataset spec that the given flags and --config describe."""
    preset = click.get_current_context().params.get("preset")
    if preset is not None:  # the shipped file's comments say where every value comes from
        from latentscape.presets import preset_comments
        click.echo(preset_comments(preset))
    for line in spec.notes():
        click.echo(f"# {line}")
    if resolved:
        import yaml
        from latentscape.api import resolve
        r = resolve(spec)
        click.echo(yaml.safe_dump({"identity": r.identity(), **r.to_dict()}, sort_keys=False))
    else:
        click.echo(spec.to_yaml(), nl=False)


def _bar(it=None, **kw):
    kw.setdefault("disable", None)  # off when not a terminal
    return tqdm(it, dynamic_ncols=True, **kw)


@cli.command()
@spec_options
@click.option("--out", type=click.Path(file_okay=False), help="Dataset root directory.")
@click.option("--repair", "repair_root", type=click.Path(file_okay=False), metavar="ROOT",
              help="Check every shard of ROOT (sha256 included) and re-render the damaged or missing ones, "
                   "from the spec stored in ROOT (no spec flags).")
@click.option("--device", type=_DEVICES, default="auto", show_default=True, help="Render device.")
@click.option("--workers", type=click.IntRange(1, 1024), default=None, help="CPU worker processes (default 1).")
@click.option("--workers-per-device", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes per GPU.")
@click.option("--overwrite", is_flag=True, help="Replace a different dataset at --out.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@executor_options
def render(spec, out, repair_root, device, workers, workers_per_device, overwrite, quiet, cluster, recycle_shards,
           max_attempts):
    """Render the dataset the spec describes into OUT (resumable: rerun to finish or repair).

    Several runs (on several hosts) may render into the same OUT at once; they share
    the work through shard claims. `--executor slurm|ray --jobs N` submits N cluster
    jobs that do the same (docs/cluster.md).
    """
    from latentscape.api import render as render_spec, repair
    kw = dict(device=device, workers=workers, workers_per_device=workers_per_device, progress=not quiet,
              recycle_shards=recycle_shards, max_attempts=max_attempts)
    if repair_root is not None:
        given = _spec_flags_given()
        if cluster is not None:
            raise click.UsageError("--repair runs here (--executor local); after it, resubmit to a cluster if needed")
        if out is not None or overwrite or given:
            raise click.UsageError(f"--repair ROOT takes the spec from ROOT's manifest; drop "
                                   f"{', '.join(given + ['--out'] * (out is not None) + ['--overwrite'] * overwrite)}")
        if not Path(repair_root).is_dir():
            raise click.UsageError(f"{repair_root!r} is not a dataset directory")
        s = repair(repair_root, **kw)
    elif out is None:
        raise click.UsageError("missing option '--out' (the dataset root), or use --repair ROOT")
    else:
        for line in spec.notes():
            click.echo(line)
        s = render_spec(spec, out, overwrite=overwrite, cluster=cluster, **kw)
    click.echo(s.line())


def _spec_flags_given() -> list[str]:
    """The spec flags typed on the command line of the current command."""
    from click.core import ParameterSource
    from latentscape.specopts import _SPEC_KEYS as SPEC_PARAM_NAMES
    ctx = click.get_current_context()
    return [p.opts[0] for p in ctx.command.params
            if p.name in SPEC_PARAM_NAMES and ctx.get_parameter_source(p.name) == ParameterSource.COMMANDLINE]


@cli.command()
@spec_options
@click.option("--out", required=True, type=click.Path(), help="PNG file for the contact sheet.")
@click.option("--device", type=_DEVICES, default="auto", show_default=True, help="Render device.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def preview(spec, out, device, quiet):
    """Render a few images (--n, default 16) and save a captioned contact sheet."""
    from latentscape.preview import render_preview
    from click.core import ParameterSource
    from latentscape.outpaths import IMAGE_SUFFIXES, check_output_file
    check_output_file(out, overwrite=True, suffixes=IMAGE_SUFFIXES, what="--out")
    given = click.get_current_context().get_parameter_source("n") == ParameterSource.COMMANDLINE
    n = spec.n if given else 16
    path = render_preview(spec, out, n=n, device=device, progress=not quiet)
    click.echo(f"saved {n} images to {path}")


def _library_options(f):
    f = click.option("--library", default="default", show_default=True,
                     help="Asset sources joined by '+': default, procedural, furniture, placeholder.")(f)
    f = click.option("--assets", "folders", multiple=True, help="User model folder (repeatable).")(f)
    f = click.option("--license", "licence", type=click.Choice(["any", "cc0"]), default="any", show_default=True)(f)
    return click.option("--skip-bad-assets", is_flag=True, help="Leave out unreadable user models.")(f)


def _lib(library, folders, licence, skip_bad_assets):
    from latentscape.resolve import asset_library
    return asset_library(library, tuple(folders), licence, skip_bad_assets)


@cli.group()
def assets():
    """Inspect the asset library: categories, objects, licences, previews."""


@assets.command("list")
@_library_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def assets_list(library, folders, licence, skip_bad_assets, as_json):
    """Categories with object counts, sources and licences."""
    import json
    from latentscape.assets.report import summary, summary_text
    lib = _lib(library, folders, licence, skip_bad_assets)
    click.echo(json.dumps(summary(lib), indent=1) if as_json else summary_text(lib))


@assets.command("show")
@click.argument("name")
@_library_options
def assets_show(name, library, folders, licence, skip_bad_assets):
    """Details of a category (its objects) or of one object."""
    from latentscape.assets.report import show
    click.echo(show(_lib(library, folders, licence, skip_bad_assets), name))


@assets.command("preview")
@_library_options
@click.option("--out", required=True, type=click.Path(), help="PNG file.")
@click.option("--per-category", type=int, default=6, show_default=True, help="Objects shown per category.")
@click.option("--categories", help="Only these categories (comma-separated).")
@click.option("--resolution", type=int, default=96, show_default=True)
def assets_preview(library, folders, licence, skip_bad_assets, out, per_category, categories, resolution):
    """Render one row per category at the canonical pose and save a grid."""
    from latentscape.preview import asset_sheet
    from latentscape.outpaths import IMAGE_SUFFIXES, check_output_file
    check_output_file(out, overwrite=True, suffixes=IMAGE_SUFFIXES, what="--out")
    path, n = asset_sheet(library, folders, licence, skip_bad_assets, out, per_category,
                          categories.split(",") if categories else None, resolution)
    click.echo(f"saved {n} renders to {path}")


@cli.group()
def split():
    """Dataset splits: computed in memory when a dataset is read; record them here."""


@split.command("save")
@click.argument("root", type=click.Path())
@click.option("--definition", type=click.Path(dir_okay=False),
              help="Split definition (YAML); default: the built-in 80/10/10 'default'.")
@click.option("--overwrite", is_flag=True, help="Replace a recorded split of the same name that has another definition.")
def split_save(root, definition, overwrite):
    """Record a split as ROOT/splits/<name>.json (reading a dataset never writes one)."""
    from latentscape.dataset.splits import DEFAULT_SPLIT, as_spec, create_split, split_path
    spec = as_spec(definition) if definition else DEFAULT_SPLIT
    parts = create_split(root, spec, overwrite=overwrite)
    click.echo(f"recorded {split_path(root, spec.name)}: " + ", ".join(f"{p} {len(ix)}" for p, ix in parts.items()))


@cli.group()
def export():
    """Export a dataset to other formats."""


@export.command("webdataset")
@click.argument("root", type=click.Path())
@click.argument("out", type=click.Path())
@click.option("--format", "image_format", type=click.Choice(["png", "jpeg"]), default="png", show_default=True)
@click.option("--shard-size", type=int, default=10000, show_default=True, help="Images per tar file.")
@click.option("--quality", type=int, default=95, show_default=True, help="JPEG quality.")
@click.option("--overwrite", is_flag=True, help="Replace tars already in OUT.")
def export_webdataset_cmd(root, out, image_format, shard_size, quality, overwrite):
    """Write WebDataset tar shards (image + JSON latents per sample) from ROOT into OUT."""
    from latentscape.dataset.export import export_webdataset
    from latentscape.outpaths import check_output_dir
    check_output_dir(out, what="OUT")
    bar = _bar(desc="export", unit="img")

    def progress(done, total):
        bar.total = total
        bar.n = done
        bar.refresh()

    paths = export_webdataset(root, out, image_format=image_format, shard_size=shard_size, quality=quality,
                              overwrite=overwrite, progress=progress)
    bar.close()
    click.echo(f"wrote {len(paths)} tar file(s) to {out}")


_TRAIN_RESUME_FLAGS = ("steps", "num_workers", "quiet")
_TRAIN_KEYS = {"targets": "targets", "arch": "arch", "steps": "steps", "batch_size": "batch_size", "lr": "lr",
               "weight_decay": "weight_decay", "schedule": "schedule", "input_size": "input_size",
               "rotation": "rotation", "target_weights": "target_weights", "split": "split", "seed": "seed",
               "device": "device", "amp": "amp", "compile_": "compile", "sync_bn": "sync_bn",
               "accumulate": "accumulate", "eval_every": "eval_every", "num_workers": "num_workers",
               "pretrained": "pretrained"}


@cli.command("train")
@click.argument("data", required=False, type=click.Path())
@click.option("--targets", help="Latents or groups to estimate, comma-separated (e.g. position,pose,category).")
@click.option("--arch", help="torchvision classification model (default resnet18), or tinycnn.")
@click.option("--steps", type=int, help="Optimiser steps (default 20000); with --resume, a new budget.")
@click.option("--batch-size", type=int, help="Global batch size (default 64).")
@click.option("--lr", type=float, help="Adam learning rate (default 1e-3).")
@click.option("--weight-decay", type=float, help="Adam weight decay (default 0).")
@click.option("--schedule", help="Learning-rate schedule: none (default), cosine, step.")
@click.option("--input-size", type=int, help="Resize images to NxN on the device (default: the dataset's).")
@click.option("--rotation", help="Pose encoding: sincos (default), 6d, quat.")
@click.option("--weights", "target_weights", help="Loss weights, e.g. position=2,category=1 (default 1 each).")
@click.option("--split", help="'default' (80/10/10), a split recorded in DATA, or a split definition YAML file.")
@click.option("--seed", type=int, help="Seed of the initial weights and the data order (default 0).")
@click.option("--device", help="auto (default), cpu, cuda, cuda:N.")
@click.option("--amp/--no-amp", default=None, help="Mixed precision on CUDA (default on).")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option("--sync-bn", is_flag=True, help="SyncBatchNorm across torchrun ranks (CUDA only).")
@click.option("--accumulate", type=int, help="Micro-batches per step and rank (default 1).")
@click.option("--eval-every", type=int, help="Steps between evaluations and checkpoints (default 1000).")
@click.option("--num-workers", type=int, help="DataLoader workers (default 2).")
@click.option("--pretrained", type=click.Path(dir_okay=False),
              help="Local file of ImageNet weights for --arch (never downloaded; see docs/training.md).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="Options from a YAML file (e.g. a run's config.yaml); flags override it.")
@click.option("--out", type=click.Path(), help="Run directory.")
@click.option("--resume", type=click.Path(), metavar="RUN",
              help="Continue RUN exactly (its config; --steps may extend it).")
@click.option("--overwrite", is_flag=True, help="Replace the run files in --out when they belong to another run.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_cmd(data, config_file, out, resume, overwrite, quiet, **opts):
    """Train a network to estimate latents from DATA's images into the run directory --out.

    Rerunning the same command (or --resume RUN) continues a run from its checkpoint.
    Under torchrun every rank trains on its slice of each batch (DistributedDataParallel).
    """
    from click.core import ParameterSource
    from latentscape.train import TrainConfig, train
    ctx = click.get_current_context()
    given = [k for k in _TRAIN_KEYS if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE]
    if resume is not None:
        extra = [f"--{k.rstrip('_').replace('_', '-')}" for k in given if k not in _TRAIN_RESUME_FLAGS]
        extra += ["DATA"] * (data is not None) + ["--out"] * (out is not None)
        extra += ["--config"] * (config_file is not None) + ["--overwrite"] * overwrite
        if extra:
            raise click.UsageError(f"--resume RUN continues RUN with its own config; drop {', '.join(extra)} "
                                   f"(only --steps and --num-workers may change)")
        result = train(resume=resume, steps=opts["steps"], num_workers=opts["num_workers"], progress=not quiet)
    else:
        from latentscape.train.config import read_yaml
        d = {k: v for k, v in read_yaml(config_file).items() if k != "run"} if config_file else {}
        d.update({_TRAIN_KEYS[k]: opts[k] for k in given})
        if "target_weights" in given:
            d["target_weights"] = _parse_weights(opts["target_weights"])
        if data is not None:
            d["data"] = data
        if "data" not in d:
            raise click.UsageError("missing the dataset: latentscape train DATA --targets ... --out RUN "
                                   "(or --resume RUN)")
        if "targets" not in d:
            raise click.UsageError("missing option '--targets' (e.g. --targets position,pose,category)")
        if out is None:
            raise click.UsageError("missing option '--out' (the run directory), or use --resume RUN")
        result = train(TrainConfig.from_dict(d, where="options"), out, overwrite=overwrite, progress=not quiet)
    import os
    if os.environ.get("RANK", "0") == "0":
        m = result.metrics
        shown = ", ".join(f"{k} {float(v):.3f}" for k, v in m.items() if k.endswith((".r2", ".acc", "mae_deg")))
        click.echo(f"trained {result.step} steps into {result.run}" + (f"; val: {shown}" if shown else ""))


def _parse_weights(text: str) -> dict:
    from latentscape.errors import TrainError
    out = {}
    for item in (text or "").split(","):
        name, eq, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            eq = ""
        if not eq or not name.strip():
            raise TrainError(f"--weights takes TARGET=WEIGHT pairs separated by commas (e.g. position=2,category=1), "
                             f"got {text!r}")
    return out


@cli.command("evaluate")
@click.argument("run", type=click.Path())
@click.option("--data", type=click.Path(), help="Dataset to evaluate on (default: the run's own).")
@click.option("--split", help="all, train, val, test (parts of the run's split), or NAME/PART recorded in --data. "
                              "Default: test of the run's own dataset, all images of another.")
@click.option("--name", help="Writes RUN/eval-NAME.json (default: <data dir>-<split>).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N.")
@click.option("--batch-size", type=int, help="Default: the run's batch size.")
@click.option("--num-workers", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def evaluate_cmd(run, data, split, name, device, batch_size, num_workers, quiet):
    """Metrics of a training run's checkpoint on a dataset (natural units), saved in RUN."""
    from latentscape.train import evaluate
    from latentscape.train.config import DEVICES
    from latentscape.train.evaluation import format_table
    from latentscape.errors import TrainError
    if not (device in DEVICES or (device.startswith("cuda:") and device[5:].isdigit())):
        raise TrainError(f"device must be one of {', '.join(DEVICES)} or cuda:N, got {device!r}")
    if num_workers < 0:
        raise TrainError(f"--num-workers must be >= 0, got {num_workers}")
    result = evaluate(run, data=data, split=split, name=name, device=device, batch_size=batch_size,
                      num_workers=num_workers, progress=not quiet)
    click.echo(format_table(result))
    click.echo(f"wrote {result['path']}")


from latentscape.cli_analyze import analyze  # noqa: E402  (a command group in its own module)

cli.add_command(analyze)
cli.add_command(status)
cli.add_command(publish)


def main(argv=None):
    """Entry point: run the CLI, turning library errors into one clear line."""
    try:
        cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:  # bad flags: one line, with where to look
        ctx = getattr(e, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        click.echo(f"error: {e.format_message()}{hint}", err=True)
        sys.exit(e.exit_code)
    except LatentscapeError as e:
        from latentscape.pipeline.local import Interrupted
        click.echo(f"{'interrupted' if isinstance(e, Interrupted) else 'error'}: {e}", err=True)
        sys.exit(130 if isinstance(e, Interrupted) else 1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except OSError as e:  # a file system refused (read-only, full, permissions): one line, no traceback
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        click.echo(f"error: {e.strerror or e}{where}", err=True)
        sys.exit(1)
    except SystemExit:
        raise
    sys.exit(0)

