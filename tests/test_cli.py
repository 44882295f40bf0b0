import subprocess
import sys

import h5py
import numpy as np
import pytest

from latentscape.cli import main

from conftest import write_synthetic_dataset
from latentscape.config import DatasetSpec


def run(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def test_help_on_every_command(capsys):
    for cmd in ([], ["latents"], ["info"], ["verify"], ["config"], ["render"], ["preview"], ["train"],
                ["evaluate"], ["split"], ["split", "save"], ["assets"], ["export", "webdataset"]):
        code, out, _ = run(cmd + ["--help"], capsys)
        assert code == 0 and "Usage" in out


def test_python_dash_m():
    r = subprocess.run([sys.executable, "-m", "latentscape", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "render" in r.stdout


def test_latents_command_writes_sampled_latents(tmp_path, capsys):
    out = tmp_path / "l.h5"
    code, stdout, _ = run(["latents", "--library", "placeholder", "--n", "500", "--vary", "pose,position", "--seed", "0", "--out", str(out)], capsys)
    assert code == 0 and "500" in stdout
    with h5py.File(out) as f:
        assert f["latents/position"].shape == (500, 3)
        assert np.all(f["latents/scale"][()] == 1.0)
        assert np.ptp(f["latents/distance"][()]) > 1
    code, _, err = run(["latents", "--n", "5", "--out", str(out)], capsys)
    assert code == 1 and "exists" in err


@pytest.mark.parametrize("args, msg", [
    (["--n", "0"], "n must be"),
    (["--n", "-3"], "n must be"),
    (["--resolution", "5"], "resolution"),
    (["--vary", "pose,colour"], "colour"),
    (["--fix", "category=chair"], "valid: cone, cube"),
    (["--fix", "wobble=1"], "unknown latent 'wobble'"),
    (["--dist", "scale=uniform:2:1"], "inverted"),
])
def test_bad_input_is_one_line_and_nonzero(tmp_path, capsys, args, msg):
    code, _, err = run(["latents", "--library", "placeholder", "--out", str(tmp_path / "x.h5"), *args], capsys)
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and msg in lines[0] and "Traceback" not in err


def test_unknown_yaml_key_via_cli(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("n: 5\nsamplez: 3\n")
    code, _, err = run(["config", "--config", str(cfg)], capsys)
    assert code == 1 and "c.yaml" in err and "samplez" in err


def test_config_dump_round_trip(tmp_path, capsys):
    code, out, _ = run(["config", "--library", "placeholder", "--n", "42", "--vary", "pose", "--fix", "category=cube"], capsys)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(out)
    code, out2, _ = run(["config", "--config", str(cfg)], capsys)
    assert code == 0 and out2 == out and "n: 42" in out


def test_info_verify_and_foreign_roots(tmp_path, capsys):
    root = tmp_path / "ds"
    write_synthetic_dataset(root, DatasetSpec(library="placeholder", n=12, shard_size=5, resolution=8, vary=("pose", "position")))
    code, out, _ = run(["info", str(root), "--plot", str(tmp_path / "h.png")], capsys)
    assert code == 0 and "12 of 12 in 3 shard(s)" in out and "varying   position, pose" in out
    assert "scale(scale=1)" in out and (tmp_path / "h.png").stat().st_size > 1000
    code, out, _ = run(["verify", str(root)], capsys)
    assert code == 0 and out.startswith("ok: 12 images")
    (root / "shards" / "shard-000001.h5").unlink()
    code, out, _ = run(["verify", str(root)], capsys)
    assert code == 1 and "PROBLEM shards/shard-000001.h5" in out
    for cmd in ("info", "verify"):
        code, _, err = run([cmd, str(tmp_path / "missing")], capsys)
        assert code == 1 and "dataset not found" in err
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "dataset.json").write_text('{"format": "something-else"}')
    code, _, err = run(["verify", str(tmp_path / "foreign")], capsys)
    assert code == 1 and "not a latentscape manifest" in err


def test_export_webdataset_command(tmp_path, capsys):
    import json
    import tarfile
    root = tmp_path / "ds"
    write_synthetic_dataset(root, DatasetSpec(library="placeholder", n=7, shard_size=4, resolution=8))
    code, out, _ = run(["export", "webdataset", str(root), str(tmp_path / "wds"), "--shard-size", "5"], capsys)
    assert code == 0 and "2 tar file(s)" in out
    names = sorted(n for p in sorted((tmp_path / "wds").glob("*.tar")) for n in tarfile.open(p).getnames())
    assert len(names) == 14 and names[0] == "000000000.json"
    with tarfile.open(sorted((tmp_path / "wds").glob("*.tar"))[0]) as t:
        lat = json.load(t.extractfile("000000003.json"))
    with h5py.File(root / "shards" / "shard-000000.h5") as f:
        assert np.allclose(lat["latents"]["position"], f["latents/position"][3])
    code, _, err = run(["export", "webdataset", str(root), str(tmp_path / "wds")], capsys)
    assert code == 1 and "overwrite" in err


def test_split_save_is_the_explicit_write(dataset, capsys):
    """Reading never writes a split into the root; `latentscape split save` does, and the recorded
    split is the one the dataset computes in memory."""
    import json
    torch_ds = pytest.importorskip("latentscape.dataset.torch")
    assert not (dataset / "splits").exists()
    with pytest.raises(SystemExit) as e:
        main(["split", "save", str(dataset)])
    assert e.value.code == 0 and "train" in capsys.readouterr().out
    rec = json.loads((dataset / "splits" / "default.json").read_text())
    ds = torch_ds.LatentDataset(dataset, targets=["category"], split="train")
    assert sorted(rec["indices"]["train"]) == sorted(ds.indices.tolist()) and len(ds) == rec["parts"]["train"]["count"]
