"""--quality presets (issue 13): a preset resolves to concrete render settings stored in the spec and
the manifest; --samples/--denoise override it; what a stored dataset says wins over later presets."""
from __future__ import annotations

import json

import pytest

import latentscape.config as config
from latentscape.config import QUALITY_PRESETS, DatasetSpec, RenderSettings
from latentscape.errors import SpecError
from latentscape.resolve import ResolvedDataset, resolve
from latentscape.specopts import spec_from_flags


def test_the_default_is_the_standard_preset_written_out():
    r = DatasetSpec().render
    assert r == RenderSettings.preset("standard") and r.quality == "standard"
    stored = DatasetSpec().to_dict()["render"]
    for k, v in QUALITY_PRESETS["standard"].items():
        assert stored[k] == v  # the concrete settings, not just the name
    assert {"adaptive_threshold", "max_bounces", "clamp_indirect", "filter_width"} <= set(stored)


def test_flags_pick_a_preset_and_overrides_drop_its_name():
    assert spec_from_flags(quality="draft").render == RenderSettings.preset("draft")
    r = spec_from_flags(quality="draft", samples=8).render
    assert r.samples == 8 and r.quality is None and r.denoise == QUALITY_PRESETS["draft"]["denoise"]
    assert spec_from_flags(samples=32).render.quality is None  # the default preset, overridden
    assert spec_from_flags(quality="high", samples=QUALITY_PRESETS["high"]["samples"]).render.quality == "high"


def test_a_config_file_names_a_preset(tmp_path):
    f = tmp_path / "spec.yaml"
    f.write_text("render:\n  quality: high\n  passes: [mask]\n")
    r = DatasetSpec.from_yaml(f).render
    assert r.samples == QUALITY_PRESETS["high"]["samples"] and r.quality == "high" and r.passes == ("mask",)
    f.write_text("render:\n  quality: ultra\n")
    with pytest.raises(SpecError, match="render.quality.*ultra.*draft, standard, high"):
        DatasetSpec.from_yaml(f)
    with pytest.raises(SpecError, match="adaptive_threshold must be a number in"):
        RenderSettings(adaptive_threshold=-0.1)


def test_a_stored_dataset_keeps_its_settings_when_presets_change(monkeypatch):
    doc = resolve(DatasetSpec(library="placeholder", n=4)).to_dict()
    monkeypatch.setitem(config.QUALITY_PRESETS, "standard", {**QUALITY_PRESETS["standard"], "samples": 999})
    back = ResolvedDataset.from_dict(json.loads(json.dumps(doc)))
    assert back.spec.render.samples == doc["spec"]["render"]["samples"] != 999
    assert back.spec.render.quality == "standard" and back.identity() == spec_identity(doc)


def spec_identity(doc):
    from latentscape.config import spec_hash
    return spec_hash(doc)


def test_settings_before_presets_keep_their_identity():
    """A 0.3 document (no preset fields) reads back with Cycles' defaults and no preset name."""
    spec = DatasetSpec(library="placeholder", n=4, render=RenderSettings(samples=16, view_transform="standard"))
    doc = spec.identity_dict()
    assert not {"quality", "denoise_prefilter", "adaptive_threshold", "max_bounces", "clamp_indirect",
                "filter_width"} & set(doc["render"])
    back = DatasetSpec.from_identity_dict(doc)
    assert back.render == spec.render and back.render.quality is None and back.render.max_bounces == 12
