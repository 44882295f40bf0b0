"""Publishing releases: local folders, file://, S3 (moto's server on loopback), Zenodo
(zenodo-mock on loopback); Croissant validated by mlcroissant; immutability; the cache
behind LatentDataset("LOCATION/NAME@VERSION")."""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import assert_one_line_error, free_port, run_cli

from latentscape.dataset.reader import DatasetReader

pytestmark = pytest.mark.blender

ARGS = ["--n", "8", "--shard-size", "4", "--resolution", "16", "--quality", "draft", "--samples", "1",
        "--library", "placeholder", "--vary", "pose,position,category", "--device", "cpu", "--quiet"]
WHO = ["--license", "CC-BY-4.0", "--creator", "Doe, Jane", "--creator", "Lab of Vision"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "ds"
    r = run_cli("render", *ARGS, "--out", str(root))
    assert r.returncode == 0, r.stderr
    return root


def _sha(p):
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def _publish(data, dest, *extra, env=None, version="1.0.0"):
    return run_cli("publish", str(data), "--name", "tiny", "--version", version, "--to", str(dest), "--quiet",
                   *WHO, *extra, env=env, timeout=300)


def test_a_local_release_holds_the_data_byte_identical_and_validated_metadata(data, tmp_path):
    dest = tmp_path / "pub"
    r = _publish(data, dest)
    assert r.returncode == 0, r.stderr
    rel = dest / "tiny" / "1.0.0"
    assert "published tiny 1.0.0" in r.stdout
    assert sorted(os.listdir(dest / "tiny")) == ["1.0.0"]  # no staging left
    rec = json.loads((rel / "release.json").read_text())
    for f in ["dataset.json"] + [f"shards/{p.name}" for p in (data / "shards").iterdir()]:
        assert _sha(rel / f) == _sha(data / f) == rec["files"][f]["sha256"], f
    for f, h in rec["files"].items():
        assert _sha(rel / f) == h["sha256"], f
    # Croissant: valid, and its record set reads back the latents
    v = subprocess.run([shutil.which("mlcroissant", path=os.path.dirname(sys.executable)), "validate", "--jsonld",
                        str(rel / "croissant.json")], capture_output=True, text=True, timeout=300)
    assert v.returncode == 0, v.stderr[-2000:]
    import mlcroissant as mlc
    recs = list(mlc.Dataset(jsonld=str(rel / "croissant.json")).records("latents"))
    with DatasetReader(data) as rd:
        lat = rd.latents()
    assert [int(x["latents/index"]) for x in recs] == list(range(8))
    assert [int(x["latents/category"]) for x in recs] == lat["category"].tolist()
    # mlcroissant parses with pandas' fast float parser (last-ulp rounding); the CSV itself is exact
    assert np.allclose([x["latents/position_2"] for x in recs], lat["position"][:, 2], rtol=1e-15, atol=0)
    import csv
    with open(rel / "latents.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["position_2"]) for r in rows] == lat["position"][:, 2].tolist()
    # the card and the citation
    card = (rel / "README.md").read_text()
    for needle in ("# latentscape-tiny 1.0.0", "| `distance` | position | m | U(2.5, 4.5) |", "CC-BY-4.0",
                   "images/samples.png", "```yaml", "Blender 5.0.1 on CPU", "@misc{tiny"):
        assert needle in card, needle
    cff = yaml.safe_load((rel / "CITATION.cff").read_text())
    assert cff["authors"][0] == {"family-names": "Doe", "given-names": "Jane"} and cff["version"] == "1.0.0"
    assert (rel / "images" / "samples.png").stat().st_size > 1000


def test_versions_are_immutable_and_republishing_the_same_is_a_no_op(data, tmp_path):
    dest = tmp_path / "pub"
    assert _publish(data, dest).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in (dest / "tiny" / "1.0.0").rglob("*")}
    r = _publish(data, dest)
    assert r.returncode == 0 and "nothing to do" in r.stdout, r.stderr
    assert before == {p: p.stat().st_mtime_ns for p in (dest / "tiny" / "1.0.0").rglob("*")}
    r = run_cli("publish", str(data), "--name", "tiny", "--version", "1.0.0", "--to", str(dest), "--quiet",
                "--license", "CC0-1.0", "--creator", "Doe, Jane", "--creator", "Lab of Vision")
    assert_one_line_error(r, "exists with other content", "license differs", "new version")
    assert _publish(data, dest, version="1.0.1").returncode == 0


@pytest.mark.parametrize("args, needle", [
    (["--version", "1.2", "--license", "CC0-1.0", "--creator", "A"], "not a semantic version"),
    (["--version", "1.0.0", "--creator", "A"], "--license is required"),
    (["--version", "1.0.0", "--license", "CC0-1.0"], "--creator is required"),
    (["--version", "1.0.0", "--license", "CC BY", "--creator", "A"], "not an SPDX licence id"),
])
def test_bad_release_input_is_one_line_and_writes_nothing(data, tmp_path, args, needle):
    dest = tmp_path / "pub"
    r = run_cli("publish", str(data), "--name", "tiny", "--to", str(dest), *args)
    assert_one_line_error(r, needle)
    assert not dest.exists()


def test_a_dataset_that_fails_verify_is_not_published(data, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(data, bad)
    shard = bad / "shards" / "shard-000001.h5"
    b = bytearray(shard.read_bytes())
    b[len(b) // 2] ^= 0xFF
    shard.write_bytes(bytes(b))
    r = _publish(bad, tmp_path / "pub")
    assert_one_line_error(r, "fails verify", "render --repair")
    assert not (tmp_path / "pub" / "tiny" / "1.0.0").exists()


def test_file_url_and_the_cache_behind_latent_dataset(data, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from latentscape import LatentDataset
    dest = tmp_path / "pub"
    assert _publish(data, f"file://{dest}").returncode == 0
    monkeypatch.setenv("LATENTSCAPE_CACHE", str(tmp_path / "cache"))
    ds = LatentDataset(f"{dest}/tiny@1.0.0", targets=["category"])
    ref = LatentDataset(str(data), targets=["category"])
    assert len(ds) == 8 and str(ds.root).startswith(str(tmp_path / "cache"))
    assert all(ds[i][1]["category"] == ref[i][1]["category"] for i in range(8))
    assert np.array_equal(np.asarray(ds[3][0]), np.asarray(ref[3][0]))
    shutil.rmtree(dest)  # later opens read the cached copy
    assert len(LatentDataset(f"{dest}/tiny@1.0.0", targets=["category"])) == 8


def test_a_damaged_release_is_refused_on_fetch_and_nothing_is_cached(data, tmp_path, monkeypatch):
    from latentscape.dataset.remote import fetch_release
    from latentscape.errors import FormatError
    dest = tmp_path / "pub"
    assert _publish(data, dest).returncode == 0
    (dest / "tiny" / "1.0.0" / "latents.csv").write_text("index\n0\n")
    monkeypatch.setenv("LATENTSCAPE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FormatError, match="latents.csv: sha256 .* differs"):
        fetch_release(f"{dest}/tiny@1.0.0")
    assert not list((tmp_path / "cache").rglob("release.json"))


# ---- S3: moto's standalone server on loopback ------------------------------------------------------

@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    port = free_port()
    exe = shutil.which("moto_server", path=os.path.dirname(sys.executable))
    assert exe, "moto[server] is installed with the test extra"
    p = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}
    try:
        t0 = time.monotonic()
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() - t0 < 30 and p.poll() is None, "moto_server did not start"
                time.sleep(0.1)
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        import s3fs
        s3fs.S3FileSystem.clear_instance_cache()
        s3fs.S3FileSystem(anon=False).mkdir("bucket")
        yield env
    finally:
        for k, v in locals().get("old", {}).items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        p.terminate()
        p.wait(10)


def test_s3_release_round_trip_and_an_interrupted_upload_resumes(data, tmp_path, s3, monkeypatch):
    import s3fs
    from latentscape.dataset.remote import fetch_release
    from latentscape.errors import DatasetNotFoundError
    from latentscape.publish.info import ReleaseInfo
    from latentscape.publish.targets import publish_release
    fs = s3fs.S3FileSystem()
    info = ReleaseInfo("tiny", "2.0.0", "CC-BY-4.0", ("Doe, Jane", "Lab of Vision"))
    # interrupted after three files: nothing visible, then a rerun uploads only the rest
    import fsspec
    target = fsspec.core.url_to_fs("s3://bucket/releases")[0]  # the (cached) instance publish uses
    real_put, calls, failed = target.put_file, [], []

    def flaky_put(lpath, rpath, *a, **kw):
        calls.append(rpath)
        if len(calls) == 4 and not failed:
            failed.append(rpath)
            raise OSError("connection reset (simulated interruption)")
        return real_put(lpath, rpath, *a, **kw)
    monkeypatch.setattr(target, "put_file", flaky_put)
    with pytest.raises(Exception, match="simulated interruption"):
        publish_release(data, info, "s3://bucket/releases", progress=False)
    assert not fs.exists("bucket/releases/tiny/2.0.0/release.json")
    monkeypatch.setenv("LATENTSCAPE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DatasetNotFoundError, match="unfinished"):
        fetch_release("s3://bucket/releases/tiny@2.0.0")
    calls.clear()
    r = publish_release(data, info, "s3://bucket/releases", progress=False)
    assert r.status == "published" and len(calls) == len(r.record["files"]) - 3
    assert not fs.exists("bucket/releases/tiny/.staging-2.0.0")
    local = fetch_release("s3://bucket/releases/tiny@2.0.0")
    for f, h in r.record["files"].items():
        assert _sha(local / f) == h["sha256"]
    # and through the CLI: the same again is a no-op
    r = _publish(data, "s3://bucket/releases", version="2.0.0", env=s3)
    assert r.returncode == 0 and "nothing to do" in r.stdout, r.stderr


def test_an_unreachable_destination_is_one_line(data, tmp_path):
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "x", "AWS_MAX_ATTEMPTS": "1", "AWS_DEFAULT_REGION": "us-east-1"}
    r = _publish(data, "s3://nowhere/releases", env=env)
    assert_one_line_error(r, "cannot write to s3://nowhere/releases")


# ---- Zenodo: zenodo-mock on loopback ---------------------------------------------------------------

def test_zenodo_versions_share_a_concept_doi(data, tmp_path):
    from zenodo_mock.testing import spawn
    import urllib.request
    with spawn(tmp_path / "zenodo") as base:
        env = {"ZENODO_TOKEN": "test-token"}
        r = _publish(data, "zenodo", "--zenodo-url", base, env=env)
        assert r.returncode == 0, r.stderr
        assert "DOI 10.5072/zenodo." in r.stdout and "--zenodo-previous" in r.stdout, r.stdout
        first = int(r.stdout.rsplit("--zenodo-previous", 1)[1].split()[0])
        r2 = _publish(data, "zenodo", "--zenodo-url", base, "--zenodo-previous", str(first), env=env,
                      version="1.1.0")
        assert r2.returncode == 0, r2.stderr
        second = int(r2.stdout.rsplit("--zenodo-previous", 1)[1].split()[0])
        assert second != first
        concept = [line.split("all versions: ")[1].split(")")[0] for line in (r.stdout, r2.stdout)]
        assert concept[0] == concept[1]
        rec = json.loads(urllib.request.urlopen(f"{base}/api/records/{second}").read())
        names = {f["key"]: f["links"]["download"] for f in rec["files"]}
        release = json.loads(urllib.request.urlopen(names["release.json"]).read())
        assert release["version"] == "1.1.0"
        for rel, h in release["files"].items():
            body = urllib.request.urlopen(names[rel.replace("/", "__")]).read()
            assert hashlib.sha256(body).hexdigest() == h["sha256"], rel
        assert rec["metadata"]["version"] == "1.1.0" and rec["metadata"]["upload_type"] == "dataset"
    r = _publish(data, "zenodo", "--zenodo-url", base, env={"ZENODO_TOKEN": ""})
    assert_one_line_error(r, "ZENODO_TOKEN")


def test_verify_checks_a_release_and_rerenders_from_it(data, tmp_path):
    dest = tmp_path / "pub"
    assert _publish(data, dest).returncode == 0
    rel = dest / "tiny" / "1.0.0"
    r = run_cli("verify", str(rel))
    assert r.returncode == 0 and "release files and identity as release.json records" in r.stdout, r.stderr
    r = run_cli("verify", f"{dest}/tiny@1.0.0", "--rerender", "2", env={"LATENTSCAPE_CACHE": str(tmp_path / "c")},
                timeout=300)
    assert r.returncode == 0 and "rerender: 2 images re-rendered" in r.stdout + r.stderr, r.stdout + r.stderr
    (rel / "images" / "latents.png").write_bytes(b"not the figure")
    r = run_cli("verify", str(rel))
    assert r.returncode == 1 and "PROBLEM images/latents.png: sha256 differs from release.json" in r.stdout


def test_the_python_api_publishes_the_same_release(data, tmp_path):
    from latentscape import api
    kw = dict(name="tiny", version="1.0.0", to=str(tmp_path / "pub"), license="CC-BY-4.0",
              creators=["Doe, Jane", "Lab of Vision"], progress=False)
    first = api.publish(data, **kw)
    assert first.status == "published" and first.url.endswith("tiny/1.0.0")
    assert api.publish(data, **kw).status == "unchanged"
    assert _publish(data, tmp_path / "pub").stdout.strip().endswith("nothing to do")  # the CLI agrees
