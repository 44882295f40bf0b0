"""`latentscape analyze ...`: what trained networks represent (docs/analysis.md). A thin layer
over latentscape.analysis.tasks; every error is one line."""
from __future__ import annotations

import click

_SEED = click.option("--seed", type=int, default=0, show_default=True, help="Seed of folds / projections / splits.")
_OVERWRITE = click.option("--overwrite", is_flag=True, help="Replace output files that exist.")
_QUIET = click.option("--quiet", is_flag=True, help="No progress bar.")
_LATENTS = click.option("--latents", help="Latents or groups, comma-separated (default: every latent that varies).")
_LAYERS = click.option("--layers", help="Comma-separated layers of ACTS (default: all).")
_OUT_DIR = click.option("--out", required=True, type=click.Path(), help="Output directory.")
_DATA = click.option("--data", type=click.Path(), help="The dataset the activations were extracted from "
                                                       "(default: the one recorded in the activation file).")


def _csv(text):
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


@click.group()
def analyze():
    """Read latents out of network layers, compare networks, predict neurons."""


@analyze.command("activations")
@click.argument("network")
@click.option("--data", required=True, type=click.Path(), help="Dataset root or a folder of images.")
@click.option("--out", required=True, type=click.Path(), help="Activation file to write (.h5).")
@click.option("--layers", help="Comma-separated module names (default: layer1..layer4,avgpool for ResNets, "
                                "else the top-level children).")
@click.option("--split", help="Only this part of the dataset: train, val, test, or NAME/PART.")
@click.option("--reduce", type=click.Choice(["project", "pool", "flatten"]), default="project", show_default=True,
              help="project: seeded sparse random projection to --width; pool: spatial mean; flatten: as is.")
@click.option("--width", type=int, default=2048, show_default=True, help="Columns per layer after projection.")
@click.option("--weights", type=click.Path(dir_okay=False), help="Local state dict for an architecture name.")
@click.option("--input-size", type=int, help="Resize images to NxN (architecture names only; a run uses its own).")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N.")
@click.option("--num-workers", type=int, default=0, show_default=True)
@_SEED
@_OVERWRITE
@_QUIET
def activations_cmd(network, data, out, layers, split, reduce, width, weights, input_size, batch_size, device,
                    num_workers, seed, overwrite, quiet):
    """Activations of NETWORK (a `latentscape train` run directory or a torchvision architecture
    name) on the images of --data, written to --out with the image indices."""
    from latentscape.analysis import tasks
    r = tasks.activations(network, data, out, layers=_csv(layers), split=split, reduce=reduce, width=width,
                          seed=seed, batch_size=batch_size, device=device, weights=weights, input_size=input_size,
                          num_workers=num_workers, overwrite=overwrite, progress=not quiet)
    widths = ", ".join(f"{k} ({d})" for k, d in r["layers"].items())
    click.echo(f"wrote activations of {r['n']} images to {r['path']}: {widths}")


@analyze.command("decode")
@click.argument("acts", type=click.Path())
@_DATA
@_LATENTS
@_LAYERS
@click.option("--folds", type=int, default=5, show_default=True)
@click.option("--repeats", type=int, default=1, show_default=True, help="Repeat k-fold with reshuffled folds.")
@click.option("--hold-out", type=click.Choice(["images", "objects"]), default="images", show_default=True,
              help="objects: folds of whole objects (generalisation to unseen objects).")
@_OUT_DIR
@_SEED
@_OVERWRITE
@_QUIET
def decode_cmd(acts, data, latents, layers, folds, repeats, hold_out, out, seed, overwrite, quiet):
    """Linear decoding of latents from every layer (layer x latent heatmap)."""
    from latentscape.analysis import tasks
    r = tasks.decode(acts, out, data=data, latents=_csv(latents), layers=_csv(layers), folds=folds, repeats=repeats,
                     hold_out=hold_out, seed=seed, overwrite=overwrite, progress=not quiet)
    for s in r["scores"]:
        extra = f" (chance {s['chance']:.3f})" if s["chance"] is not None else f" (r {_num(s['r'])})"
        if s.get("unseen"):
            extra += f" ({s['unseen']:.0%} of test images of classes absent from training)"
        click.echo(f"  {s['layer']:<12} {s['latent']:<18} {s['metric']:<8} {s['score']:.3f} ± {s['score_std']:.3f}{extra}")
    click.echo(f"wrote {r['out']}/decode.json, decode.csv, decode.png")


@analyze.command("cka")
@click.argument("acts_a", type=click.Path())
@click.argument("acts_b", type=click.Path())
@click.option("--kind", type=click.Choice(["linear", "rbf", "debiased"]), default="linear", show_default=True)
@click.option("--threshold", type=float, default=1.0, show_default=True,
              help="RBF bandwidth as a fraction of the median distance.")
@click.option("--layers-a", help="Layers of ACTS_A (default: all).")
@click.option("--layers-b", help="Layers of ACTS_B (default: all).")
@click.option("--permutations", type=int, default=0, show_default=True, help="Permutation null per cell (p-values).")
@_OUT_DIR
@_SEED
@_OVERWRITE
def cka_cmd(acts_a, acts_b, kind, threshold, layers_a, layers_b, permutations, out, seed, overwrite):
    """Layer x layer CKA between two activation files of the same images."""
    from latentscape.analysis import tasks
    r = tasks.cka(acts_a, acts_b, out, kind=kind, threshold=threshold, layers_a=_csv(layers_a),
                  layers_b=_csv(layers_b), permutations=permutations, seed=seed, overwrite=overwrite)
    _matrix(r["matrix"], r["layers_a"], r["layers_b"], f"{kind} CKA over {r['n']} images")
    click.echo(f"wrote {r['out']}/cka.json, cka.csv, cka.png")


@analyze.command("rsa")
@click.argument("acts_a", type=click.Path())
@click.argument("acts_b", type=click.Path())
@click.option("--layers-a", help="Layers of ACTS_A (default: all).")
@click.option("--layers-b", help="Layers of ACTS_B (default: all).")
@click.option("--metric", type=click.Choice(["correlation", "euclidean", "sqeuclidean"]), default="correlation",
              show_default=True, help="Dissimilarity between two images' activation patterns.")
@click.option("--method", type=click.Choice(["spearman", "pearson", "kendall"]), default="spearman",
              show_default=True, help="How two RDMs are compared.")
@_OUT_DIR
@_OVERWRITE
def rsa_cmd(acts_a, acts_b, layers_a, layers_b, metric, method, out, overwrite):
    """Layer x layer RSA (Spearman correlation of correlation-distance RDMs by default)."""
    from latentscape.analysis import tasks
    r = tasks.rsa(acts_a, acts_b, out, layers_a=_csv(layers_a), layers_b=_csv(layers_b), metric=metric,
                  method=method, overwrite=overwrite)
    if r["skipped_layers"]:
        click.echo(f"  left out (1 feature: no correlation distance): {', '.join(r['skipped_layers'])}")
    _matrix(r["matrix"], r["layers_a"], r["layers_b"], f"RSA over {r['n']} images")
    click.echo(f"wrote {r['out']}/rsa.json, rsa.csv, rsa.png")


@analyze.command("disentanglement")
@click.argument("acts", type=click.Path())
@_DATA
@_LATENTS
@_LAYERS
@_OUT_DIR
@_SEED
@_OVERWRITE
@_QUIET
def disentanglement_cmd(acts, data, latents, layers, out, seed, overwrite, quiet):
    """DCI, MIG and SAP of every layer with respect to the latents."""
    from latentscape.analysis import tasks
    r = tasks.disentanglement(acts, out, data=data, latents=_csv(latents), layers=_csv(layers), seed=seed,
                              overwrite=overwrite, progress=not quiet)
    for layer, s in r["layers"].items():
        click.echo(f"  {layer:<12} " + "  ".join(f"{m} {s[m]:.3f}" for m in tasks.METRICS))
    click.echo(f"wrote {r['out']}/disentanglement.json, disentanglement.csv, disentanglement.png")


@analyze.command("neural")
@click.argument("acts", type=click.Path())
@click.option("--neural", "recordings", required=True, type=click.Path(),
              help="Recordings: NetCDF (.nc) or HDF5 (.h5), presentation x neuroid [x repetition], stimulus_id.")
@_DATA
@_LAYERS
@click.option("--components", type=int, default=25, show_default=True, help="PLS components.")
@click.option("--splits", type=int, default=10, show_default=True, help="90/10 splits stratified by object.")
@_OUT_DIR
@_SEED
@_OVERWRITE
def neural_cmd(acts, recordings, data, layers, components, splits, out, seed, overwrite):
    """PLS neural predictivity of every layer (median Pearson r over neuroids, raw and ceiled)."""
    from latentscape.analysis import tasks
    r = tasks.neural(acts, recordings, out, data=data, layers=_csv(layers), n_components=components, splits=splits,
                     seed=seed, overwrite=overwrite)
    for layer, v in r["layers"].items():
        ceiled = v.get("median_r_ceiled")
        click.echo(f"  {layer:<12} median r {_num(v['median_r'])}" + (f"  ceiled {_num(ceiled)}" if ceiled is not None else ""))
    for key in ("note", "split_note"):
        if r.get(key):
            click.echo(f"  note: {r[key]}")
    click.echo(f"best layer: {r['best_layer']}; wrote {r['out']}/neural.json, neural.csv, neural.png")


@analyze.command("report")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--data", required=True, type=click.Path(), help="Dataset whose images both networks see.")
@click.option("--split", help="Only this part of the dataset: train, val, test, or NAME/PART.")
@click.option("--layers", help="Comma-separated layers (default: layer1..layer4,avgpool for ResNets).")
@click.option("--latents", help="Latents or groups to decode (default: every latent that varies).")
@click.option("--neural", "recordings", type=click.Path(), help="Recordings to predict (optional).")
@click.option("--width", type=int, default=2048, show_default=True, help="Columns per layer after projection.")
@click.option("--folds", type=int, default=5, show_default=True)
@click.option("--components", type=int, default=25, show_default=True, help="PLS components (with --neural).")
@click.option("--splits", type=int, default=10, show_default=True, help="Neural predictivity splits (with --neural).")
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--out", required=True, type=click.Path(), help="Report directory (index.html).")
@_SEED
@_OVERWRITE
@_QUIET
def report_cmd(run_a, run_b, data, split, layers, latents, recordings, width, folds, components, splits, device,
               batch_size, out, seed, overwrite, quiet):
    """All analyses of two networks on one page: REPORT/index.html."""
    from latentscape.analysis.report import report
    r = report(run_a, run_b, data, out, layers=_csv(layers), latents=_csv(latents), split=split, neural=recordings,
               width=width, folds=folds, n_components=components, splits=splits, seed=seed, device=device,
               batch_size=batch_size, overwrite=overwrite, progress=not quiet)
    click.echo(f"wrote {r['index']} (numbers in {r['out']}/report.json)")


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _matrix(m, rows, cols, title):
    width = max(len(x) for x in rows)
    click.echo(title)
    click.echo(" " * (width + 2) + " ".join(f"{c[:8]:>8}" for c in cols))
    for name, row in zip(rows, m):
        click.echo(f"  {name:<{width}}" + " ".join(f"{_num(v):>8}" for v in row))
