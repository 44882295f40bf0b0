"""Croissant 1.0 metadata (JSON-LD) of a release: files with sha256, the latents as a RecordSet
read from latents.csv, licence, creators, version, citeAs, date, and the Responsible-AI
fields that apply to a synthetic dataset. Validated with mlcroissant in the tests."""
from __future__ import annotations

from latentscape.publish.info import ReleaseInfo

CONTEXT = {
    "@language": "en", "@vocab": "https://schema.org/", "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/", "citeAs": "cr:citeAs", "column": "cr:column",
    "equivalentProperty": "cr:equivalentProperty", "samplingRate": "cr:samplingRate",
    "conformsTo": "dct:conformsTo", "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"}, "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract", "field": "cr:field", "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet", "format": "cr:format", "includes": "cr:includes", "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField", "path": "cr:path",
    "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex", "repeated": "cr:repeated",
    "replace": "cr:replace", "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField",
    "transform": "cr:transform",
}


def croissant(manifest: dict, info: ReleaseInfo, date: str, identity: str, hashes: dict, columns: list) -> dict:
    """The JSON-LD document (`hashes`: release path -> {sha256, bytes}; `columns`: latents.csv's)."""
    from latentscape.publish.card import cite_as, description
    units = {s["name"]: s["unit"] for s in manifest["latents"]}
    files = [_file_object(rel, h) for rel, h in sorted(hashes.items())]
    fields = [{"@type": "cr:Field", "@id": f"latents/{col}", "name": col,
               "description": f"{name} ({units.get(name, 'index')})" if col != "index" else "global image index",
               "dataType": "sc:Integer" if kind == "int" else "sc:Float",
               "source": {"fileObject": {"@id": "latents.csv"}, "extract": {"column": col}}}
              for col, name, kind, _ in columns]
    return {
        "@context": CONTEXT, "@type": "sc:Dataset", "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": f"{info.name}", "alternateName": info.display_title,
        "description": info.description or description(manifest),
        "version": info.version, "datePublished": date, "license": _license_url(info.license),
        "creator": [_creator(c) for c in info.creators], "citeAs": cite_as(info, date),
        "url": f"https://example.invalid/latentscape/{info.name}/{info.version}",
        "identifier": f"latentscape-identity:{identity}",
        "keywords": ["synthetic images", "3D objects", "disentanglement", "latent factors", "Blender Cycles"],
        "isLiveDataset": False,
        "rai:dataCollection": "Rendered with Blender's Cycles by latentscape from a declared spec: every image is a "
                              "deterministic function of (spec, index); no data was collected from people.",
        "rai:dataCollectionType": ["Synthetic data"],
        "rai:dataPreprocessingProtocol": "None: labels are the generative factors themselves, stored exactly.",
        "rai:dataAnnotationProtocol": "No human annotation; every label is a generative factor used to render "
                                      "the image.",
        "rai:dataBiases": "The object and background libraries (listed in README.md with licences) bound what "
                          "the images can show; distributions of every factor are stated in README.md.",
        "rai:personalSensitiveInformation": "None: synthetic renders of 3D object models.",
        "rai:dataUseCases": "Training and analysing vision models on images with known generative factors.",
        "rai:dataLimitations": "Synthetic renders of single objects; not a sample of natural images.",
        "distribution": files,
        "recordSet": [{"@type": "cr:RecordSet", "@id": "latents", "name": "latents",
                       "description": "The generative factors of every image (one row per image index).",
                       "key": {"@id": "latents/index"}, "field": fields}],
    }


def _file_object(rel: str, h: dict) -> dict:
    fmt = {".h5": "application/x-hdf5", ".json": "application/json", ".csv": "text/csv", ".png": "image/png",
           ".md": "text/markdown", ".cff": "text/plain"}
    ext = rel[rel.rfind("."):]
    return {"@type": "cr:FileObject", "@id": rel, "name": rel, "contentUrl": rel,
            "encodingFormat": fmt.get(ext, "application/octet-stream"), "sha256": h["sha256"],
            "contentSize": f"{h['bytes']} B"}


def _creator(name: str) -> dict:
    if "," in name:
        family, given = (s.strip() for s in name.split(",", 1))
        return {"@type": "sc:Person", "name": f"{given} {family}".strip(), "familyName": family, "givenName": given}
    return {"@type": "sc:Organization", "name": name}


def _license_url(spdx: str) -> str:
    return f"https://spdx.org/licenses/{spdx}.html"
