"""Zenodo: one deposition per version, all versions under one concept DOI.

The deposit API (https://developers.zenodo.org): create a deposition (or a new version
of a previous one: actions/newversion), upload each file into its bucket, set the
metadata, publish. Talks plain HTTP (urllib), token from $ZENODO_TOKEN; `base_url`
points at zenodo.org, sandbox.zenodo.org, or a local stand-in in the tests.
Zenodo keeps at most 100 files per record: bigger releases must use larger shards.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from latentscape.publish.info import PublishError, ReleaseInfo
from latentscape.publish.release import RELEASE, build_release, require_publishable

MAX_FILES = 100
TOKEN_ENV = "ZENODO_TOKEN"


@dataclass
class ZenodoResult:
    deposition_id: int
    doi: str
    concept_doi: str
    url: str
    record: dict

    def line(self) -> str:
        return (f"published {self.record['name']} {self.record['version']} on Zenodo: DOI {self.doi} "
                f"(all versions: {self.concept_doi}), {self.url}; next version: --zenodo-previous "
                f"{self.deposition_id}")


class _Api:
    def __init__(self, base_url: str, token: str):
        self.base, self.token = base_url.rstrip("/"), token

    def call(self, method: str, url: str, body=None, ctype: str = "application/json", size: int | None = None) -> dict:
        """One request; `body` bytes, or an open binary file streamed with `size` bytes."""
        if not url.startswith("http"):
            url = f"{self.base}{url}"
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": ctype}
        if size is not None:
            headers["Content-Length"] = str(size)
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                data = r.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace").strip().replace("\n", " ")[:300]
            raise PublishError(f"Zenodo refused {method} {url}: HTTP {e.code} {e.reason}"
                               + (f": {detail}" if detail else "")) from None
        except (urllib.error.URLError, OSError) as e:
            raise PublishError(f"cannot reach Zenodo at {self.base}: {getattr(e, 'reason', e)}") from None
        return json.loads(data) if data else {}


def publish_zenodo(root: str | Path, info: ReleaseInfo, base_url: str, previous: int | None = None,
                   progress: bool = True) -> ZenodoResult:
    """Build the release and publish it as a new Zenodo record (a new version of `previous`)."""
    import tempfile
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise PublishError(f"publishing to Zenodo needs a personal access token in ${TOKEN_ENV}")
    api = _Api(base_url, token)
    require_publishable(Path(root))
    with tempfile.TemporaryDirectory(prefix="latentscape-release-") as work:
        plan = build_release(Path(root), info, Path(work))
        if len(plan.files) + 1 > MAX_FILES:
            raise PublishError(f"Zenodo keeps at most {MAX_FILES} files per record; this release has "
                               f"{len(plan.files) + 1}: render with a larger --shard-size")
        dep = _draft(api, previous)
        bucket = dep["links"]["bucket"]
        for f in dep.get("files", []):  # a new version starts with the previous version's files
            api.call("DELETE", f"/api/deposit/depositions/{dep['id']}/files/{f['id']}")
        rel_files = sorted(plan.files.items())
        from tqdm import tqdm
        for rel, src in tqdm(rel_files, desc="upload", unit="file", disable=not progress, dynamic_ncols=True):
            with open(src, "rb") as fh:  # streamed: shards can be large
                api.call("PUT", f"{bucket}/{_flat(rel)}", fh, "application/octet-stream", size=src.stat().st_size)
        api.call("PUT", f"{bucket}/{RELEASE}", plan.release_json(), "application/octet-stream")
        api.call("PUT", f"/api/deposit/depositions/{dep['id']}", json.dumps({"metadata": _metadata(info, plan)}).encode())
        done = api.call("POST", f"/api/deposit/depositions/{dep['id']}/actions/publish")
    return ZenodoResult(int(dep["id"]), str(done.get("doi", "")), str(done.get("conceptdoi", "")),
                        str(done.get("links", {}).get("record_html", "")), plan.record)


def _draft(api: _Api, previous: int | None) -> dict:
    if previous is None:
        return api.call("POST", "/api/deposit/depositions", b"{}")
    r = api.call("POST", f"/api/deposit/depositions/{previous}/actions/newversion")
    latest = r.get("links", {}).get("latest_draft")
    if not latest:
        raise PublishError(f"Zenodo gave no new draft for deposition {previous}")
    return api.call("GET", latest)


def _flat(rel: str) -> str:
    """Zenodo buckets are flat: shards/shard-000000.h5 -> shards__shard-000000.h5."""
    return rel.replace("/", "__")


def _metadata(info: ReleaseInfo, plan) -> dict:
    creators = []
    for c in info.creators:
        creators.append({"name": c} if "," in c else {"name": c, "affiliation": None})
    return {"title": f"{info.display_title} {info.version}", "upload_type": "dataset",
            "description": info.description or f"latentscape release {info.name} {info.version} "
                                                f"(identity {plan.record['identity']})",
            "creators": creators, "version": info.version, "license": info.license.lower(),
            "access_right": "open", "keywords": ["latentscape", "synthetic images"],
            "publication_date": plan.record["date"]}
