"""Releases: immutable, citable, machine-validated versions of a dataset (docs/publishing.md).

release.py builds a release folder (shards and manifest byte-identical, latents as CSV,
Croissant metadata, a dataset card, CITATION.cff, release.json with sha256 per file and
an identity hash); targets.py puts it on a local folder or any fsspec URL through a
staging prefix; zenodo.py deposits it on Zenodo. Reading releases back (cache, hashes)
is dataset/remote.py.
"""
