import pytest
from hypothesis import given, settings, strategies as st

from latentscape.config import DatasetSpec, parse_dist, parse_fix, parse_vary, spec_hash
from latentscape.errors import SpecError
from latentscape.latents.space import GROUPS

from conftest import make_resolved


def test_yaml_round_trip(tmp_path):
    spec = DatasetSpec(library="placeholder", n=77, seed=4, vary=("pose", "position"), fix=(("category", "cube"),),
                       distributions=(("distance", parse_dist_obj("distance=uniform:3:5")),),
                       pose_mode="euler", render=DatasetSpec(library="placeholder").render.__class__(samples=4, passes=("mask",)))
    p = tmp_path / "s.yaml"
    p.write_text(spec.to_yaml())
    back = DatasetSpec.from_yaml(p)
    assert back == spec
    assert make_resolved(back).identity() == make_resolved(spec).identity()


def parse_dist_obj(item):
    from latentscape.latents.distributions import Dist
    name, d = parse_dist(item)
    return Dist.from_dict(d)


def test_spec_hash_stable_and_sensitive():
    a = make_resolved(DatasetSpec(library="placeholder")).identity()
    assert a == make_resolved(DatasetSpec(library="placeholder")).identity()
    assert a != make_resolved(DatasetSpec(library="placeholder", seed=1)).identity()
    assert spec_hash({"b": 1, "a": 2}) == spec_hash({"a": 2, "b": 1})


@pytest.mark.parametrize("bad, match", [
    ({"n": 0}, "n must be"),
    ({"n": -5}, "n must be"),
    ({"resolution": 4}, "resolution must be an integer in 8..4096"),
    ({"resolution": 5000}, "resolution"),
    ({"distributions": {"scale": {"kind": "uniform", "low": 2, "high": 1}}}, "inverted"),
    ({"vary": ["pose", "colour"]}, "unknown .*'colour'"),
    ({"fix": {"wobble": 1}}, "unknown latent 'wobble'"),
    ({"fix": {"yaw": 1.0}}, "only used with pose_mode: euler"),
    ({"distributions": {"scale": {"kind": "gamma"}}}, "unknown distribution kind"),
    ({"distributions": {"scale": {"kind": "uniform", "low": 0, "hi": 1}}}, "unknown key"),
    ({"render": {"samples": 0}}, "samples"),
    ({"render": {"passes": ["normals"]}}, "unknown pass"),
    ({"storage": {"compression": "brotli"}}, "unknown compression"),
    ({"colour": "red"}, "unknown key 'colour'"),
])
def test_bad_specs_are_clear_errors(bad, match):
    with pytest.raises(SpecError, match=match):
        DatasetSpec.from_dict(bad)


def test_unknown_yaml_key_names_file_and_key(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("n: 10\nrender:\n  samples: 4\n  sample: 8\n")
    with pytest.raises(SpecError, match=r"bad\.yaml: render: unknown key 'sample'"):
        DatasetSpec.from_yaml(p)


def test_vary_and_fix_parsers():
    assert parse_vary("all") == GROUPS
    assert parse_vary("position,pose") == ("position", "pose")
    assert parse_vary("none") == ()
    assert parse_fix(["category=cube", "scale=1.5", "rotation=1,0,0,0"]) == {
        "category": "cube", "scale": 1.5, "rotation": (1, 0, 0, 0)}
    with pytest.raises(SpecError):
        parse_fix(["scale"])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 10**6), seed=st.integers(0, 2**32), res=st.integers(8, 4096),
       vary=st.sets(st.sampled_from(GROUPS)), lo=st.floats(0.1, 2), width=st.floats(0, 2))
def test_spec_parser_round_trips_valid_input(n, seed, res, vary, lo, width):
    d = {"n": n, "seed": seed, "resolution": res, "vary": sorted(vary),
         "distributions": {"scale": {"kind": "uniform", "low": lo, "high": lo + width}}}
    spec = DatasetSpec.from_dict(d)
    assert DatasetSpec.from_dict(spec.to_dict()) == spec


@settings(max_examples=60, deadline=None)
@given(key=st.text(min_size=1, max_size=12).filter(lambda k: k not in DatasetSpec(library="placeholder").to_dict()))
def test_spec_parser_rejects_any_unknown_key(key):
    with pytest.raises(SpecError, match="unknown key"):
        DatasetSpec.from_dict({key: 1})
