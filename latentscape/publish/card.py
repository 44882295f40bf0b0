"""The dataset card (README.md a person reads) and CITATION.cff of a release."""
from __future__ import annotations

import yaml

from latentscape.publish.info import ReleaseInfo


def description(m: dict) -> str:
    vary = ", ".join(m["spec"].get("vary") or []) or "nothing"
    return (f"{m['n']} synthetic images ({m['resolution']}x{m['resolution']}) of 3D objects rendered with "
            f"Blender Cycles by latentscape; varying: {vary}; every image labelled with the factors that made it.")


def cite_as(info: ReleaseInfo, date: str) -> str:
    authors = " and ".join(info.creators)
    key = f"{info.name.replace('-', '').replace('.', '')}{date[:4]}"
    return (f"@misc{{{key}, title = {{{info.display_title}}}, author = {{{authors}}}, year = {{{date[:4]}}}, "
            f"version = {{{info.version}}}, note = {{latentscape dataset release}}}}")


def _dist(d: dict) -> str:
    k = d.get("kind")
    if k == "uniform":
        return f"U({d['low']:.4g}, {d['high']:.4g})"
    if k == "normal":
        return f"N({d.get('mean', 0):.4g}, {d.get('std', 1):.4g})"
    if k == "choice":
        v = d.get("values", [])
        return f"one of {len(v)}" + (" (weights given)" if d.get("weights") else "")
    if k == "fixed":
        return f"fixed at {d.get('value')}"
    return str(k)


def _latent_table(m: dict) -> list[str]:
    dists = m["resolved"]["distributions"]
    rows = ["| latent | group | unit | distribution |", "|---|---|---|---|"]
    for s in m["latents"]:
        d = dists.get(s["name"]) or dists.get(s["name"].replace("_quat", "")) or {}
        rows.append(f"| `{s['name']}` | {s['group']} | {s['unit']} | {_dist(d) if d else 'derived'} |")
    return rows


def _licences(m: dict) -> list[str]:
    """Asset and background licences; every CC-BY item with its attribution."""
    by: dict[str, list] = {}
    for o in m["assets"]["objects"]:
        by.setdefault(str(o.get("licence") or "unknown"), []).append(o)
    out = ["| licence | objects |", "|---|---|"]
    out += [f"| {lic} | {len(v)} |" for lic, v in sorted(by.items())]
    attrib = [o for lic, v in by.items() if "BY" in lic.upper() for o in v]
    if attrib:
        out += ["", "Attributions (licences that require them):", ""]
        out += [f"- {o['name']}: {o.get('creator') or 'creator not recorded'} ({o.get('licence')})" for o in attrib]
    out += ["", "Backgrounds:", ""]
    out += [f"- {b['name']} ({b.get('kind', '?')}): {b.get('licence', 'unknown')}"
            + (f", {b['creator']}" if b.get("creator") else "") for b in m["backgrounds"]]
    return out


def dataset_card(m: dict, info: ReleaseInfo, date: str, identity: str, hashes: dict, prov: dict) -> str:
    shards = [r for r in hashes if r.startswith("shards/")]
    total = sum(h["bytes"] for h in hashes.values())
    lines = [f"# {info.display_title} {info.version}", "",
             info.description or description(m), "",
             f"- **Version** {info.version}, released {date}; **licence** {info.license}; "
             f"**creators** {'; '.join(info.creators)}",
             f"- **Identity** `{identity}` (sha256 over the dataset identity `{m['spec_hash']}`, the latentscape "
             f"and Blender versions and every asset's content hash; `latentscape verify` checks it)",
             f"- {m['n']} images, {m['resolution']}x{m['resolution']} RGB, in {len(shards)} HDF5 shards; "
             f"{total / 1e6:.1f} MB in all; made by latentscape {m.get('latentscape_version', '?')} with Blender "
             f"{', '.join(prov['blender_versions'])} on {', '.join(prov['devices'])}",
             "", "![sample images](images/samples.png)", "",
             "## What varies", "",
             f"Varying groups: {', '.join(m['spec'].get('vary') or []) or 'none'}; every other latent is fixed. "
             "Latents are in the camera frame (x right, y up, z away from the camera, metres).", ""]
    lines += _latent_table(m)
    lines += ["", "![histograms of the latents](images/latents.png)", "",
              "## Load it", "", "```python", "from latentscape import LatentDataset",
              f'ds = LatentDataset("DEST/{info.name}@{info.version}", targets=["position"])  # fetched, checked, cached',
              "```", "", "```bash", f"latentscape verify DEST/{info.name}/{info.version}              # hashes, counts, schema",
              f"latentscape verify DEST/{info.name}/{info.version} --rerender 20  # re-render 20 images, compare",
              "```", "", "`latents.csv` holds every image's latents (one row per index) for tools that do not read "
              "HDF5; `croissant.json` describes the files and that record set (Croissant 1.0).", "",
              "## How it was made", "",
              "The exact spec (render it again with `latentscape render --config spec.yaml --out DIR`; the "
              "manifest `dataset.json` also holds the resolved description every shard was rendered from):", "",
              "```yaml", yaml.safe_dump(m["spec"], sort_keys=False).rstrip(), "```", "",
              "## Assets and licences", ""]
    lines += _licences(m)
    lines += ["", "## Cite", "", "```bibtex", cite_as(info, date), "```", "",
              "See also `CITATION.cff`.", ""]
    return "\n".join(lines)


def citation_cff(info: ReleaseInfo, date: str, identity: str) -> str:
    authors = []
    for c in info.creators:
        if "," in c:
            family, given = (s.strip() for s in c.split(",", 1))
            authors.append({"family-names": family, "given-names": given})
        else:
            authors.append({"name": c})
    doc = {"cff-version": "1.2.0", "message": "If you use this dataset, please cite it as below.",
           "type": "dataset", "title": info.display_title, "version": info.version, "date-released": date,
           "license": info.license, "authors": authors,
           "identifiers": [{"type": "other", "value": f"latentscape-identity:{identity}"}]}
    return yaml.safe_dump(doc, sort_keys=False)
