"""Everything for two networks on one page: `latentscape analyze report RUN_A RUN_B --data DATA
--out REPORT` extracts both networks' activations on the same images, decodes the latents from
every layer of each, compares the layers (linear and debiased CKA, RSA), scores
disentanglement, optionally predicts recorded neurons, and writes REPORT/index.html (figures
and tables), REPORT/report.json (every number) and each analysis' own folder.
"""
from __future__ import annotations

import html
import os
import shutil
from pathlib import Path

from latentscape.analysis import tasks
from latentscape.analysis.outputs import OutDir, finite, write_text
from latentscape.errors import AnalysisError, OutputPathError
from latentscape.files import owner_tag

CKA_KINDS = ("linear", "debiased")


def report(run_a, run_b, data, out, *, layers=None, latents=None, split: str | None = None, neural=None,
           width: int = 2048, folds: int = 5, n_components: int = 25, splits: int = 10, seed: int = 0,
           device: str = "auto", batch_size: int = 64, overwrite: bool = False, progress: bool = False) -> dict:
    """Run every analysis for `run_a` and `run_b` (training runs or architecture names) on the
    images of `data` (optionally one split part); returns report.json's content.

    The report is built in a temporary folder beside `out` and moved into place when complete:
    a failure leaves nothing behind. An existing `out` must be empty, or a report (replaced only
    with `overwrite`)."""
    final = _check_out(out, overwrite)
    _check_cheap(latents, folds, n_components, splits, neural)
    tmp = final.with_name(f".{final.name}.{owner_tag()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        result = _build(tmp, run_a, run_b, data, layers=layers, latents=latents, split=split, neural=neural,
                        width=width, folds=folds, n_components=n_components, splits=splits, seed=seed, device=device,
                        batch_size=batch_size, progress=progress)
        _move_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {**result, "out": str(final), "index": str(final / "index.html")}


def _check_out(out, overwrite: bool) -> Path:
    from latentscape.outpaths import check_output_dir
    final = check_output_dir(out, what="--out directory", parents=True)
    if final.is_dir() and any(final.iterdir()):
        if not (final / "report.json").is_file():
            raise OutputPathError(f"--out {final} holds other files; give a new or empty directory for the report")
        if not overwrite:
            raise OutputPathError(f"--out {final} already holds a report; use --overwrite to replace it, or another --out")
    return final


def _check_cheap(latents, folds, n_components, splits, neural) -> None:
    """What can be refused before any network runs."""
    from latentscape.analysis.factors import expand
    if latents:
        expand(latents)
    if not isinstance(folds, int) or folds < 2:
        raise AnalysisError(f"folds must be an integer >= 2, got {folds!r}")
    if neural is not None:
        from latentscape.analysis.neural import load_recordings
        load_recordings(neural)
        if not isinstance(n_components, int) or n_components < 1:
            raise AnalysisError(f"PLS components must be an integer >= 1, got {n_components!r}")
        if not isinstance(splits, int) or splits < 1:
            raise AnalysisError(f"splits must be an integer >= 1, got {splits!r}")


def _move_into_place(tmp: Path, final: Path) -> None:
    old = final.with_name(f".{final.name}.{owner_tag()}.old")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def _build(root: Path, run_a, run_b, data, *, layers, latents, split, neural, width, folds, n_components, splits,
           seed, device, batch_size, progress) -> dict:
    na, nb = _names(run_a, run_b)
    acts = {}
    for name, run in ((na, run_a), (nb, run_b)):
        acts[name] = tasks.activations(run, data, root / f"activations-{name}.h5", layers=layers, split=split,
                                       width=width, seed=seed, device=device, batch_size=batch_size,
                                       progress=progress)["path"]
    out_json: dict = {"data": str(data), "split": split, "networks": {}, "cka": {}, "rsa": None, "neural": {}}
    for name in (na, nb):
        dec = tasks.decode(acts[name], root / name / "decode", data=data, latents=latents, folds=folds, seed=seed,
                           progress=progress)
        dis = tasks.disentanglement(acts[name], root / name / "disentanglement", data=data, latents=latents,
                                    seed=seed, progress=progress)
        out_json["networks"][name] = {"network": dec["network"], "activations": f"activations-{name}.h5",
                                      "decode": dec["scores"], "disentanglement": dis["layers"]}
        if neural is not None:
            out_json["neural"][name] = _strip(tasks.neural(acts[name], neural, root / name / "neural", data=data,
                                                           n_components=n_components, splits=splits, seed=seed))
    for kind in CKA_KINDS:
        c = tasks.cka(acts[na], acts[nb], root / f"cka-{kind}", kind=kind)
        out_json["cka"][kind] = {"layers_a": c["layers_a"], "layers_b": c["layers_b"], "matrix": c["matrix"]}
    r = tasks.rsa(acts[na], acts[nb], root / "rsa")
    out_json["rsa"] = {"layers_a": r["layers_a"], "layers_b": r["layers_b"], "matrix": r["matrix"],
                       "skipped_layers": r.get("skipped_layers", [])}
    out_json["n"] = dec["n"]
    o = OutDir(root, ["index.html", "report.json"], overwrite=False)
    o.json("report.json", out_json)
    write_text(o.file("index.html"), render_html(finite(out_json), na, nb))
    return finite(out_json)


def _names(a, b) -> tuple[str, str]:
    """Folder names for the two networks: the run directory's (resolved) name or the architecture's."""
    def name(x):
        p = Path(str(x))
        n = p.resolve().name if p.exists() else p.name
        return n if n and n not in (".", "..") and n.replace("-", "").replace("_", "").replace(".", "").isalnum() \
            else "network"
    na, nb = name(a), name(b)
    if na == nb:
        na, nb = f"{na}-a", f"{nb}-b"
    return na, nb


def _strip(result: dict) -> dict:
    """A neural result without paths into the temporary build folder."""
    return {k: v for k, v in result.items() if k not in ("out", "activations")}


# ---- the page -----------------------------------------------------------------------------------
_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:.9em}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}img{max-width:100%;margin:.4em 0}.pair{display:flex;gap:1em;flex-wrap:wrap}
.pair>div{flex:1 1 480px}.note{color:#555;font-size:.9em}"""


def render_html(r: dict, na: str, nb: str) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>latentscape analysis: {e(na)} vs {e(nb)}"
             f"</title><style>{_CSS}</style></head><body>",
             f"<h1>What {e(na)} and {e(nb)} represent</h1>",
             f"<p class='note'>{r['n']} images of {e(str(r['data']))}"
             + (f" (split {e(str(r['split']))})" if r.get("split") else "") + ". Every number is in report.json; "
             "each analysis has its own folder (JSON, CSV, PNG).</p>"]
    parts.append("<h2>Networks</h2><table><tr><th>name</th><th>source</th><th>trained on</th><th>step</th></tr>")
    for name, v in r["networks"].items():
        net = v["network"] or {}
        parts.append(f"<tr><td>{e(name)}</td><td>{e(str(net.get('path') or net.get('name')))}</td>"
                     f"<td>{e(', '.join(net.get('targets') or []) or 'untrained / ImageNet')}</td>"
                     f"<td>{e(str(net.get('step', '')))}</td></tr>")
    parts.append("</table>")
    parts.append("<h2>Which latents each layer holds (linear decoding)</h2><p class='note'>Held-out R² (continuous; "
                 "angles via sin/cos) or accuracy (categorical) of a linear read-out, k-fold cross-validated.</p>"
                 "<div class='pair'>")
    for name in r["networks"]:
        parts.append(f"<div><img src='{e(name)}/decode/decode.png' alt='decoding {e(name)}'>"
                     + _decode_table(r["networks"][name]["decode"]) + "</div>")
    parts.append("</div><h2>How similar the layers are</h2><p class='note'>Centred kernel alignment between every "
                 f"layer of {e(na)} (rows) and of {e(nb)} (columns); debiased CKA removes the finite-sample bias. "
                 "RSA: Spearman correlation of the two layers' representational dissimilarity matrices.</p><div class='pair'>")
    for kind in r["cka"]:
        parts.append(f"<div><img src='cka-{kind}/cka.png' alt='{kind} CKA'></div>")
    parts.append("<div><img src='rsa/rsa.png' alt='RSA'></div></div>")
    parts.append(_diagonal_table(r))
    parts.append("<h2>Disentanglement</h2><div class='pair'>")
    for name in r["networks"]:
        parts.append(f"<div><img src='{e(name)}/disentanglement/disentanglement.png' alt='disentanglement {e(name)}'></div>")
    parts.append("</div>")
    if r.get("neural"):
        parts.append("<h2>Neural predictivity</h2><div class='pair'>")
        for name, v in r["neural"].items():
            parts.append(f"<div><img src='{e(name)}/neural/neural.png' alt='neural {e(name)}'>"
                         f"<p class='note'>best layer: {e(str(v.get('best_layer')))}. {e(str(v.get('note') or ''))}</p></div>")
        parts.append("</div>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _decode_table(scores: list[dict]) -> str:
    layers = list(dict.fromkeys(s["layer"] for s in scores))
    latents = list(dict.fromkeys(s["latent"] for s in scores))
    cell = {(s["layer"], s["latent"]): s["score"] for s in scores}
    head = "".join(f"<th>{html.escape(x)}</th>" for x in latents)
    rows = "".join(f"<tr><td>{html.escape(k)}</td>" + "".join(f"<td>{_fmt(cell.get((k, x)))}</td>" for x in latents)
                   + "</tr>" for k in layers)
    return f"<table><tr><th>layer</th>{head}</tr>{rows}</table>"


def _diagonal_table(r: dict) -> str:
    """CKA / RSA between layers of the same name (the usual 'per layer' comparison)."""
    lin = r["cka"]["linear"]
    same = [x for x in lin["layers_a"] if x in lin["layers_b"]]
    if not same:
        return ""
    rows = []
    for x in same:
        i, j = lin["layers_a"].index(x), lin["layers_b"].index(x)
        vals = [r["cka"][k]["matrix"][i][j] for k in r["cka"]] + [r["rsa"]["matrix"][i][j]]
        rows.append(f"<tr><td>{html.escape(x)}</td>" + "".join(f"<td>{_fmt(v)}</td>" for v in vals) + "</tr>")
    head = "".join(f"<th>{k} CKA</th>" for k in r["cka"]) + "<th>RSA</th>"
    return f"<table><tr><th>same layer</th>{head}</tr>{''.join(rows)}</table>"


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"

