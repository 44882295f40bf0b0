"""The seed paper's three findings at CPU scale (Xie et al. 2024, arXiv:2412.09115, "Vision CNNs
trained to estimate spatial latents learned similar ventral-stream-aligned representations"),
plus the speed of the analysis on this machine.

    python benchmarks/analysis_prepare.py        # render the datasets, train the four networks (slow)
    python benchmarks/analysis_replication.py    # analyse them (minutes); table + JSON + figures

Networks (benchmarks/analysis_prepare.py; resnet18, 64 px, 600 steps of 64 images):
  spatial   position + pose, on `vary` (position, pose, category vary)
  category  category, on `vary`
  pos-vary  position only, on `vary`
  pos-fixed position only, on `fixed` (category and pose held fixed: no non-target variability)
  untrained resnet18 at its seeded random init (reference)
Every analysis runs on `probe`: 2,000 images none of the networks saw (a different seed),
with position, pose and category varying.

Findings checked:
  (1) CKA per layer between the spatial and the category network: the paper reports very
      similar early and middle layers, diverging late.
  (2) decoding of non-target latents per layer (category from the spatial network, position and
      pose from the category network): the paper reports non-target latents are represented.
  (3) non-target variability: the same position target trained with category and pose varying
      vs held fixed; the paper reports that variability in the non-target latents helps the
      network represent them.
Speed (issue 11): linear CKA of 2,000 x 50,000 features; decoding 10,000 x 2,048 with 5 folds.

Writes benchmarks/results/analysis_replication.json and docs/images/analysis_*.png.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "analysis"
IMAGES = ROOT / "docs" / "images"
NETS = {"spatial": "run-spatial", "category": "run-category", "pos-vary": "run-pos-vary",
        "pos-fixed": "run-pos-fixed", "untrained": "resnet18"}
LAYERS = ["layer1", "layer2", "layer3", "layer4", "avgpool"]
LATENTS = ["position", "pose", "category"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "analysis_replication.json"))
    p.add_argument("--figures", default=str(IMAGES))
    p.add_argument("--width", type=int, default=2048)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-speed", action="store_true")
    return p.parse_args(argv)


def extract_all(data: Path, width: int) -> dict:
    from latentscape.analysis import tasks
    out, seconds = {}, {}
    for name, net in NETS.items():
        path = data / f"acts-{name}.h5"
        source = data / net if net.startswith("run-") else net
        if not path.is_file():
            t = time.perf_counter()
            tasks.activations(source, data / "probe", path, layers=LAYERS, width=width, device="cpu", batch_size=100)
            seconds[name] = time.perf_counter() - t
        out[name] = path
    return out, seconds


def decode_all(acts: dict, data: Path, folds: int) -> dict:
    from latentscape.analysis import decode as dec
    from latentscape.analysis.actfile import ActivationFile
    from latentscape.analysis.factors import read_factors
    res, seconds = {}, {}
    for name, path in acts.items():
        f = ActivationFile(path)
        factors = read_factors(data / "probe", f.index, LATENTS)
        t = time.perf_counter()
        scores = dec.decode({k: f.features(k) for k in LAYERS}, factors, folds=folds)
        seconds[name] = time.perf_counter() - t
        res[name] = {(s.layer, s.latent): s.score for s in scores}
    return res, seconds


def cka_all(acts: dict) -> dict:
    from latentscape.analysis.actfile import ActivationFile, common_rows
    from latentscape.analysis.cka import cka_matrix
    out = {}
    for a, b in (("spatial", "category"), ("spatial", "untrained"), ("category", "untrained"),
                 ("pos-vary", "pos-fixed")):
        fa, fb = ActivationFile(acts[a]), ActivationFile(acts[b])
        ra, rb = common_rows(fa, fb)
        xa, xb = fa.load(LAYERS, ra), fb.load(LAYERS, rb)
        out[(a, b)] = {kind: cka_matrix(xa, xb, kind=kind) for kind in ("linear", "debiased")}
    return out


def speed() -> dict:
    from latentscape.analysis.cka import cka_features
    from latentscape.analysis.decode import decode
    from latentscape.analysis.factors import Factor
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 50000)).astype(np.float32)
    y = (x[:, :3000] @ rng.normal(size=(3000, 2000)).astype(np.float32) / 50).astype(np.float32)
    t = time.perf_counter()
    value = cka_features(x, np.concatenate([y, rng.normal(size=(2000, 48000)).astype(np.float32)], 1), "linear")
    cka_s = time.perf_counter() - t
    del x, y
    n = 10000
    feats = rng.normal(size=(n, 2048)).astype(np.float32)
    factors = [Factor("position.x", "continuous", rng.normal(size=n)), Factor("pose.yaw", "angle", rng.uniform(-3, 3, n)),
               Factor("category", "categorical", rng.integers(0, 17, n))]
    t = time.perf_counter()
    decode({"layer": feats}, factors, folds=5)
    return {"cka_linear_2000x50000_s": cka_s, "cka_value": value, "decode_10000x2048_5fold_s": time.perf_counter() - t}


def figures(dec: dict, cka: dict, out: Path) -> list[str]:
    from latentscape.analysis import figures as fig
    paths = []
    m = cka[("spatial", "category")]
    for kind in ("linear", "debiased"):
        paths.append(fig.cka_heatmap(m[kind], LAYERS, LAYERS, out / f"analysis_cka_{kind}.png",
                                     name_a="position+pose network", name_b="category network", kind=kind))
    series = {f"{a} vs {b}": [cka[(a, b)]["linear"][i, i] for i in range(len(LAYERS))] for (a, b) in cka}
    paths.append(fig.layer_curves(series, LAYERS, out / "analysis_cka_per_layer.png", ylim=(0, 1.02),
                                  title="Linear CKA between networks, same layer (2,000 probe images)",
                                  ylabel="linear CKA"))
    latents = list(dict.fromkeys(k[1] for k in dec["spatial"]))
    for name in ("spatial", "category"):
        grid = [[dec[name][(layer, x)] for x in latents] for layer in LAYERS]
        paths.append(fig.heatmap(grid, LAYERS, latents, out / f"analysis_decode_{name}.png", vmin=0, vmax=1,
                                 title=f"Decoding from the {name} network (R² / accuracy)", xlabel="latent",
                                 ylabel="layer", colorbar="R² / accuracy"))
    labels = {"pos-vary": "position-trained, category + pose varied", "pos-fixed": "position-trained, held fixed",
              "untrained": "untrained (reference)"}
    nontarget = {labels[name]: [dec[name][(layer, "category")] for layer in LAYERS] for name in labels}
    paths.append(fig.layer_curves(nontarget, LAYERS, out / "analysis_nontarget.png", ylim=(0, 0.7),
                                  title="Category (a non-target latent) decoded from position-trained networks",
                                  ylabel="held-out accuracy (chance 1/17)"))
    return [str(p) for p in paths]


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    from train_replication import _cpu as cpu_name  # benchmarks/ is on sys.path when run as a script
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    missing = [n for n, r in NETS.items() if r.startswith("run-") and not (data / r / "checkpoint.pt").is_file()]
    if missing or not (data / "probe" / "dataset.json").is_file():
        print(f"error: run benchmarks/analysis_prepare.py first (missing: {', '.join(missing) or 'probe'})",
              file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    acts, extract_s = extract_all(data, args.width)
    dec, decode_s = decode_all(acts, data, args.folds)
    cka = cka_all(acts)
    paths = figures(dec, cka, Path(args.figures))
    sp = {} if args.skip_speed else speed()
    wall = time.perf_counter() - t0

    print("\n(1) linear / debiased CKA, position+pose network vs category network, same layer")
    for i, layer in enumerate(LAYERS):
        m = cka[("spatial", "category")]
        ref = cka[("spatial", "untrained")]["linear"][i, i]
        print(f"  {layer:<8} linear {m['linear'][i, i]:.3f}  debiased {m['debiased'][i, i]:.3f}"
              f"   (spatial vs untrained: {ref:.3f})")
    latents = list(dict.fromkeys(k[1] for k in dec["spatial"]))
    print("\n(2) decoding per layer (R² for position/pose, accuracy for category; chance ~1/17)")
    for name in ("spatial", "category", "untrained"):
        print(f"  {name} network")
        print("    " + " " * 8 + " ".join(f"{x[:10]:>10}" for x in latents))
        for layer in LAYERS:
            print(f"    {layer:<8}" + " ".join(f"{dec[name][(layer, x)]:>10.3f}" for x in latents))
    print("\n(3) non-target latents from position-only networks: trained with vs without variability")
    for x in ("category", "pose.yaw", "pose.pitch", "pose.roll"):
        row = "  ".join(f"{layer} {dec['pos-vary'][(layer, x)]:.3f}/{dec['pos-fixed'][(layer, x)]:.3f}"
                        for layer in LAYERS)
        print(f"  {x:<11} (vary/fixed)  {row}")
    if sp:
        print(f"\nspeed: linear CKA 2,000 x 50,000: {sp['cka_linear_2000x50000_s']:.1f} s; decoding 10,000 x 2,048, "
              f"5 folds, 3 latents: {sp['decode_10000x2048_5fold_s']:.1f} s per layer")
    print(f"activations: {', '.join(f'{k} {v:.0f} s' for k, v in extract_s.items()) or 'reused'}; "
          f"decoding (2,000 x 5 layers): {', '.join(f'{k} {v:.0f} s' for k, v in decode_s.items())}; "
          f"wall {wall / 60:.1f} min")

    prep = data / "prepare.json"
    result = {
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "torch": str(torch.__version__), "threads": args.threads,
                    "date": datetime.datetime.now().isoformat(timespec="seconds")},
        "command": " ".join([Path(sys.argv[0]).name] + (sys.argv[1:] if argv is None else list(argv))),
        "prepare": json.loads(prep.read_text()) if prep.is_file() else None,
        "layers": LAYERS, "probe_images": 2000, "width": args.width, "folds": args.folds,
        "cka": {f"{a} vs {b}": {k: v.tolist() for k, v in m.items()} for (a, b), m in cka.items()},
        "decode": {name: {f"{layer}/{x}": v for (layer, x), v in d.items()} for name, d in dec.items()},
        "seconds": {"activations": extract_s, "decode_2000": decode_s, "wall": wall}, "speed": sp,
        "figures": paths,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {args.json} and {len(paths)} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
