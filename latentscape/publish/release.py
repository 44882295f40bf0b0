"""Build a release: which files it holds (shards and manifest byte-identical, plus generated
metadata) and its release.json (sha256 per file, the identity hash). Nothing is uploaded here.

Generated files depend only on the dataset, the ReleaseInfo and the release date, so
rebuilding with an existing release's date reproduces it byte for byte: that is how
"republishing identical files is a no-op" is decided.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentscape.dataset.format import MANIFEST, open_shard, sha256_file
from latentscape.dataset.manifest import load_manifest
from latentscape.dataset.reader import DatasetReader
from latentscape.publish.info import PublishError, ReleaseInfo

RELEASE = "release.json"
LATENTS_CSV = "latents.csv"
SAMPLES_PNG = "images/samples.png"
HISTOGRAMS_PNG = "images/latents.png"
FORMAT = "latentscape-release"


@dataclass
class ReleasePlan:
    """files: release path -> local file holding its bytes; record: the release.json content."""

    files: dict
    record: dict

    def release_json(self) -> bytes:
        return (json.dumps(self.record, indent=1, sort_keys=True) + "\n").encode()


def identity_parts(manifest: dict, prov: dict) -> dict:
    """What makes a release what it is: the dataset identity, the versions that rendered it
    (`prov`: `provenance` of its shards), and the content hashes of every asset."""
    res = manifest["resolved"]
    return {"spec_hash": manifest["spec_hash"], "latentscape_version": manifest.get("latentscape_version", "?"),
            "blender_versions": prov["blender_versions"],
            "asset_sha256": sorted(str(o.get("sha256", "")) for o in res.get("objects", [])),
            "background_sha256": sorted(str(b.get("sha256", b.get("name", ""))) for b in res.get("backgrounds", []))}


def provenance(root: Path, manifest: dict) -> dict:
    """Blender versions and render devices, as the shards record them."""
    blender, devices = set(), set()
    for rec in manifest["shards"]:
        with open_shard(root / rec["file"]) as f:
            blender.add(str(f.attrs.get("blender_version", "?")))
            devices.add(str(f.attrs.get("device", "?")))
    return {"blender_versions": sorted(blender), "devices": sorted(devices)}


def identity_of(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def build_release(root: Path, info: ReleaseInfo, work: Path, date: str | None = None) -> ReleasePlan:
    """Write the generated files into `work` and return the plan. `root` must have passed a full
    verify (`require_publishable`): the shards' sha256 and sizes are taken from its manifest."""
    from latentscape.publish.card import citation_cff, dataset_card
    from latentscape.publish.croissant import croissant
    root, work = Path(root), Path(work)
    m = load_manifest(root)
    date = date or dt.date.today().isoformat()
    files = {MANIFEST: root / MANIFEST}
    hashes = {MANIFEST: {"sha256": sha256_file(root / MANIFEST), "bytes": (root / MANIFEST).stat().st_size}}
    for rec in m["shards"]:
        files[rec["file"]] = root / rec["file"]
        hashes[rec["file"]] = {"sha256": rec["sha256"], "bytes": rec["bytes"]}
    (work / "images").mkdir(parents=True, exist_ok=True)
    columns = write_latents_csv(root, work / LATENTS_CSV)
    files[LATENTS_CSV] = work / LATENTS_CSV
    _figures(root, work, len(m["shards"]) and m["n"])
    files[SAMPLES_PNG], files[HISTOGRAMS_PNG] = work / SAMPLES_PNG, work / HISTOGRAMS_PNG
    _hash_into(hashes, files, (LATENTS_CSV, SAMPLES_PNG, HISTOGRAMS_PNG))
    prov = provenance(root, m)
    parts = identity_parts(m, prov)
    ident = identity_of(parts)
    (work / "croissant.json").write_text(json.dumps(croissant(m, info, date, ident, hashes, columns), indent=1) + "\n")
    (work / "README.md").write_text(dataset_card(m, info, date, ident, hashes, prov))
    (work / "CITATION.cff").write_text(citation_cff(info, date, ident))
    for rel in ("croissant.json", "README.md", "CITATION.cff"):
        files[rel] = work / rel
    _hash_into(hashes, files, ("croissant.json", "README.md", "CITATION.cff"))
    record = {"format": FORMAT, "name": info.name, "version": info.version, "title": info.display_title,
              "license": info.license, "creators": list(info.creators), "date": date, "identity": ident,
              "identity_parts": parts, "n": m["n"], "files": dict(sorted(hashes.items()))}
    return ReleasePlan(files, record)


def _hash_into(hashes: dict, files: dict, rels):
    for rel in rels:
        hashes[rel] = {"sha256": sha256_file(files[rel]), "bytes": files[rel].stat().st_size}


def _figures(root: Path, work: Path, n: int):
    from latentscape.dataset.info import plot_histograms
    from latentscape.dataset.sheet import contact_sheet
    k = min(16, n)
    idx = np.unique(np.linspace(0, n - 1, k).round().astype(int)).tolist()
    contact_sheet(root, work / SAMPLES_PNG, cols=4, cell=128, indices=idx)
    plot_histograms(root, work / HISTOGRAMS_PNG)


def latent_columns(manifest: dict) -> list[tuple[str, str, str, int]]:
    """(CSV column, latent name, 'int' | 'float', component) for every latent component, in
    manifest order (a vector latent `position` gives position_0, position_1, ...)."""
    out = [("index", "index", "int", 0)]
    for s in manifest["latents"]:
        kind = "int" if s["dtype"].startswith(("int", "uint")) else "float"
        if not s["shape"]:
            out.append((s["name"], s["name"], kind, 0))
        else:
            out += [(f"{s['name']}_{j}", s["name"], kind, j) for j in range(int(np.prod(s["shape"])))]
    return out


def write_latents_csv(root: Path, out: Path) -> list[tuple[str, str, str, int]]:
    """Every image's latents as CSV (Croissant readers do not read HDF5); returns the columns."""
    with DatasetReader(root) as r:
        m = r.manifest
        lat = r.latents()
    cols = latent_columns(m)
    n = len(lat["index"])
    flat = {name: np.asarray(lat[name]).reshape(n, -1) for name in {c[1] for c in cols}}
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([c[0] for c in cols])
        for i in range(n):
            w.writerow([int(flat[name][i, j]) if kind == "int" else repr(float(flat[name][i, j]))
                        for _, name, kind, j in cols])
    return cols


def check_release_files(folder: Path) -> list[str]:
    """Problems of a release folder against its release.json (empty: every file as recorded)."""
    folder = Path(folder)
    try:
        rec = json.loads((folder / RELEASE).read_text())
    except (OSError, ValueError) as e:
        return [f"{folder}: no readable {RELEASE} ({e.__class__.__name__}): not a finished release"]
    if rec.get("format") != FORMAT or not isinstance(rec.get("files"), dict):
        return [f"{folder / RELEASE}: not a latentscape release record"]
    problems = []
    for rel, want in rec["files"].items():
        p = folder / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            problems.append(f"{rel}: path leads outside the release")
        elif not p.is_file():
            problems.append(f"{rel}: missing")
        elif p.stat().st_size != want.get("bytes") or sha256_file(p) != want.get("sha256"):
            problems.append(f"{rel}: sha256 differs from {RELEASE}")
    if not problems and "identity_parts" in rec:
        m = load_manifest(folder)
        parts = identity_parts(m, provenance(folder, m))
        if identity_of(parts) != rec.get("identity") or parts != rec["identity_parts"]:
            problems.append(f"identity: the files hash to {identity_of(parts)[:16]}, {RELEASE} says "
                            f"{str(rec.get('identity'))[:16]}")
    return problems


def require_publishable(root: Path):
    """The dataset must pass a full verify (sha256 included) before it is released."""
    from latentscape.dataset.verify import verify
    problems, _ = verify(root)
    if problems:
        p = problems[0]
        raise PublishError(f"{root} fails verify ({len(problems)} problem(s); first: {p.where}: {p.what}); "
                           f"fix it with `latentscape render --repair {root}` before publishing")
