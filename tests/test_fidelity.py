"""`info --fidelity` (issue 12): coverage, clipped object pixels and contrast, on constructed
images with known answers and through the CLI on a stored dataset."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import write_synthetic_dataset
from latentscape.config import DatasetSpec, RenderSettings
from latentscape.dataset.fidelity import image_fidelity, measure, report, ring, summarise


def test_ring_is_the_band_within_three_pixels():
    mask = np.zeros((11, 11), bool)
    mask[5, 5] = True
    r = ring(mask)
    assert r.sum() == 7 * 7 - 1 and not r[5, 5] and r[2, 2] and not r[1, 5]


def test_clipped_fraction_and_contrast_known_answers():
    img = np.full((20, 20, 3), 100, np.uint8)  # surround: luminance 100
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 255
    img[5:15, 5:15] = 200
    img[5:10, 5:15] = 255  # half the object clipped white
    clipped, contrast = image_fidelity(img, mask)
    assert clipped == 0.5
    assert contrast == pytest.approx((255 + 200) / 2 - 100)
    img[5:10, 5:15, 2] = 250  # one channel below 254: not clipped
    assert image_fidelity(img, mask)[0] == 0.0
    assert np.isnan(image_fidelity(img, np.zeros_like(mask))[0])  # no object: unknown, not 0


def test_info_fidelity_reports_what_the_images_show(tmp_path, capsys):
    from latentscape.cli import main
    root = tmp_path / "d"
    spec = DatasetSpec(n=12, shard_size=6, resolution=16, library="placeholder", render=RenderSettings(passes=("mask",)))
    write_synthetic_dataset(root, spec)
    s = summarise(measure(root))
    assert s["images"] == 12 and s["empty"] == 0 and s["solid_background_images"] >= 1
    assert 0 < s["visible_q05_q50_q95"][1] < 1
    with pytest.raises(SystemExit) as e:
        main(["info", str(root), "--fidelity"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert report(root) in out and "visible fraction" in out and "clipped" in out and "contrast" in out
