"""Presets produce the distributions docs/presets.md documents (sample statistics of their latents)."""
import math

import numpy as np
import pytest

from latentscape.cli import main
from latentscape.config import DatasetSpec
from latentscape.pipeline.design_table import design_rows
from latentscape.presets import preset_path
from latentscape.resolve import resolve
from latentscape.specopts import spec_from_flags

XIE_JITTER = math.tan(math.radians(20)) / math.tan(math.radians(30))  # 0.6304: +-20 deg of aim in a 60 deg view


def uniform_ok(v, lo, hi, tol=0.01):
    """Inside [lo, hi], reaching both ends, with the mean and std of U(lo, hi) (mean within 4 sigma)."""
    n, width = len(v), hi - lo
    assert v.min() >= lo - 1e-9 and v.max() <= hi + 1e-9
    assert v.min() < lo + tol * width and v.max() > hi - tol * width
    assert abs(v.mean() - (lo + hi) / 2) < 4 * width / math.sqrt(12 * n)
    assert v.std() == pytest.approx(width / math.sqrt(12), rel=0.03)


@pytest.fixture(scope="module")
def xie():
    spec = spec_from_flags(preset="xie2024", n=10_000)
    return spec, resolve(spec).sampler.sample_range(0, spec.n)


@pytest.fixture(scope="module")
def hvm():
    spec = spec_from_flags(preset="hvm")
    r = resolve(spec)
    return spec, r, r.sampler.sample_range(0, spec.n)


def test_xie2024_settings_match_the_table(xie):
    spec, _ = xie
    assert (spec.fov_deg, spec.resolution, spec.pose_mode, spec.canonical_pose, spec.frame) == \
        (60.0, 256, "facing", "front", "centre")
    assert spec.min_visible == 0.002
    assert spec_from_flags(preset="tdw-image-dataset") == spec_from_flags(preset="xie2024")


def test_xie2024_distributions(xie):
    _, lat = xie
    d = lat["distance"]
    # U(0.9, 4.2) before the visibility guarantee; its few re-draws (thin objects far away) lower the mean a little
    assert d.min() >= 0.9 and d.max() <= 4.2 and abs(d.mean() - 2.55) < 0.04
    assert lat["rejections_visible"].sum() < 0.01 * len(d)
    for j in range(2):  # camera aim jitter as image coordinates
        uniform_ok(lat["image_xy"][:, j], -XIE_JITTER, XIE_JITTER)
    for j in range(3):  # facing the camera, then yaw, pitch, roll each U(-45, 45) deg
        uniform_ok(np.degrees(lat["rotation_euler"][:, j]), -45, 45)
    assert (lat["scale"] == 1.0).all()
    assert set(np.unique(lat["background_id"])) == {6, 7, 8, 12, 13}
    # the paper's targets map one to one: depth, translation, rotation sin/cos, category, identity
    assert np.allclose(lat["position"][:, 2], lat["distance"] / np.sqrt(1 + (lat["image_xy"] ** 2).sum(1)
                                                                      * math.tan(math.radians(30)) ** 2))


def test_hvm_blocks_have_the_published_sizes_and_ranges(hvm):
    spec, r, lat = hvm
    assert spec.n == 5760 and (spec.resolution, spec.pose_mode, spec.position_mode) == (256, "euler", "box")
    block = lat["design_block"]
    assert np.bincount(block).tolist() == [640, 2560, 2560]
    assert len(np.unique(lat["category"])) == 8 and len(np.unique(lat["object_id"])) == 64
    v0 = block == 0
    assert (lat["position"][v0] == [0, 0, 4]).all() and (lat["scale"][v0] == 1).all()
    assert (lat["rotation_euler"][v0] == 0).all()
    for b, (ty, tz, s_lo, s_hi, rot) in {1: (0.3, 0.6, 1 / 1.3, 1.3, 45), 2: (0.6, 1.2, 1 / 1.6, 1.6, 90)}.items():
        m = block == b
        uniform_ok(lat["position"][m, 0], -ty, ty)
        uniform_ok(lat["position"][m, 1], -tz, tz)
        uniform_ok(lat["scale"][m], s_lo, s_hi)
        for j in range(3):
            uniform_ok(np.degrees(lat["rotation_euler"][m, j]), -rot, rot)
    assert (lat["position"][:, 2] == 4.0).all()
    assert {r.backgrounds[i].kind for i in np.unique(lat["background_id"])} == {"hdri"}


def test_hvm_stimulus_table(hvm):
    spec, r, lat = hvm
    header, rows = design_rows(r)
    assert header == ["stimulus_id", "object_name", "category_name", "variation", "ty", "tz", "s", "rxy", "rxz",
                      "ryz", "background_id"]
    assert len(rows) == 5760 and [rows[i][3] for i in (0, 639, 640, 3199, 3200, 5759)] == \
        ["V0", "V0", "V3", "V3", "V6", "V6"]
    i = 4000
    assert rows[i][1] == r.library.objects[lat["object_id"][i]].name
    assert float(rows[i][4]) == pytest.approx(lat["position"][i, 0], abs=1e-5)
    assert float(rows[i][7]) == pytest.approx(math.degrees(lat["rotation_euler"][i, 0]), abs=1e-4)


def test_config_prints_a_preset_that_round_trips(capsys):
    with pytest.raises(SystemExit) as e:
        main(["config", "--preset", "hvm"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and out.startswith("# HvM / Majaj, Hong et al. 2015")  # the file's sources first
    assert "# blocks: V0 640, V3 2,560, V6 2,560 = 5,760 images\n" in out
    assert DatasetSpec.from_dict(__import__("yaml").safe_load(out)) == spec_from_flags(preset="hvm")
    assert DatasetSpec.from_yaml(preset_path("hvm")) == spec_from_flags(preset="hvm")


@pytest.mark.parametrize("name", ["hvm", "xie2024"])
def test_preset_identity_survives_the_manifest(name):
    """Workers and repairs rebuild the resolved description from the manifest: same identity, same draws."""
    from latentscape.resolve import ResolvedDataset
    r = resolve(spec_from_flags(preset=name))
    back = ResolvedDataset.from_dict(__import__("json").loads(__import__("json").dumps(r.to_dict())))
    assert back.identity() == r.identity()
    for i in (0, 700, 5000):
        a, b = r.sampler.sample(i), back.sampler.sample(i)
        assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in a), i
