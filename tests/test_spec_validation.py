"""A spec is validated when it is built: every bad flag or YAML document is one SpecError that
names the key, the bad value and what is allowed; valid edge values are accepted; the CLI turns
each into one line and a non-zero exit, never a traceback."""
import math
import subprocess
import sys
from pathlib import Path

import click
import pytest
from hypothesis import given, settings, strategies as st

from latentscape.cli import main
from latentscape.config import DatasetSpec, RenderSettings, StorageSettings, spec_hash
from latentscape.errors import SpecError
from latentscape.latents.distributions import Dist
from latentscape.resolve import ResolvedDataset, resolve
from latentscape.latents.space import PARAMS, Range, check_dist, check_value
from latentscape.specopts import spec_options

# The identity of DatasetSpec(library="placeholder", n=10): the 0.1 scheme (names only; validation
# was tightened without changing it) and the 0.2 scheme (concrete sources, content hashes).
PLACEHOLDER_N10_HASH = "09702e204868b946"
PLACEHOLDER_N10_IDENTITY = "a1359791e647983e"


@click.command()
@spec_options
def _probe(spec):
    return spec


def spec_of(args: list[str]) -> DatasetSpec:
    """The spec that `latentscape config ARGS` would build (SpecError propagates)."""
    return _probe.main(args=args, standalone_mode=False)


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


# ---- flags ------------------------------------------------------------------------
BAD_FLAGS = [
    # not numbers, empty, overflow, nan/inf
    (["--fix", "scale=big"], ["scale", "'big'", "(0, inf)"]),
    (["--fix", "scale="], ["scale", "''"]),
    (["--fix", "scale=1e400"], ["scale", "inf"]),
    (["--fix", "scale=nan"], ["scale", "nan"]),
    (["--fix", "scale=-inf"], ["scale", "-inf"]),
    (["--fix", "scale=1,2"], ["scale", "(1, 2)"]),
    (["--dist", "scale=uniform:abc:1"], ["scale=uniform:abc:1", "'abc'", "not a number"]),
    (["--dist", "scale=uniform::1"], ["''", "not a number"]),
    (["--dist", "scale=uniform:1e400:2e400"], ["low", "inf", "finite"]),
    (["--dist", "scale=uniform:-inf:inf"], ["low", "-inf", "finite"]),
    (["--dist", "scale=normal:nan:1:0.5:1.5"], ["mean", "nan"]),
    (["--dist", "scale=normal:1:0:0.5:1.5"], ["std", "> 0"]),
    (["--dist", "scale=uniform:2:1"], ["inverted", "low=2"]),
    # wrong arity: a lone truncation bound used to be dropped silently
    (["--dist", "scale=normal:1:0.1:0.5"], ["scale=normal:1:0.1:0.5", "2 or 4", "got 3"]),
    (["--dist", "scale=uniform:1:2:3"], ["uniform takes 2", "got 3"]),
    (["--dist", "scale=fixed:1:2"], ["fixed takes 1", "got 2"]),
    (["--dist", "rotation=so3:x"], ["so3 takes 0", "got 1"]),
    (["--dist", "scale"], ["NAME=KIND:ARGS", "'scale'"]),
    (["--dist", "scale=gamma:1:2"], ["unknown kind 'gamma'", "uniform:LOW:HIGH"]),
    (["--fix", "scale"], ["NAME=VALUE", "'scale'"]),
    (["--fix", "=1"], ["NAME=VALUE", "'=1'"]),
    (["--fix", "scale=1", "--fix", "scale=2"], ["scale given twice"]),
    # physically impossible latents
    (["--fix", "scale=0"], ["scale = 0", "(0, inf)"]),
    (["--fix", "scale=-1"], ["scale = -1", "(0, inf)"]),
    (["--dist", "scale=uniform:0:1"], ["scale", "low=0.0", "(0, inf)"]),
    (["--fix", "light_intensity=-0.5"], ["light_intensity = -0.5", "[0, inf)"]),
    (["--dist", "light_intensity=uniform:-1:1"], ["light_intensity", "low=-1.0", "[0, inf)"]),
    (["--fix", "light_temperature=-100"], ["light_temperature = -100", "[1000, 40000] K"]),
    (["--fix", "light_temperature=50000"], ["light_temperature = 50000", "[1000, 40000] K"]),
    (["--fix", "env_strength=-1"], ["env_strength = -1", "[0, inf)"]),
    (["--fix", "distance=-2"], ["distance = -2", "(0, 1000] m"]),
    (["--fix", "distance=0"], ["distance = 0", "(0, 1000] m"]),
    (["--dist", "distance=uniform:-1:5"], ["distance", "low=-1.0", "(0, 1000] m"]),
    (["--position-mode", "box", "--fix", "position_z=-1"], ["position_z = -1", "(0, 1000] m"]),
    (["--position-mode", "box", "--fix", "position_z=0"], ["position_z = 0"]),
    (["--fix", "light_elevation=2"], ["light_elevation = 2", "[-pi/2, pi/2] rad"]),
    (["--fix", "light_elevation=-1.6"], ["light_elevation = -1.6"]),
    (["--fix", "image_x=1.5"], ["image_x = 1.5", "[-1, 1]"]),
    (["--dist", "image_y=uniform:-1.01:0"], ["image_y", "low=-1.01", "[-1, 1]"]),
    (["--fix", "rotation=0,0,0,0"], ["rotation", "(0, 0, 0, 0)", "norm in [1e-6, 1e6]"]),
    (["--fix", "rotation=1e200,0,0,0"], ["rotation", "(1e+200, 0, 0, 0)"]),
    (["--fix", "rotation=1,0,0"], ["rotation", "(1, 0, 0)", "4 finite numbers"]),
    (["--fix", "rotation=nan,0,0,1"], ["rotation", "nan"]),
    (["--fix", "rotation=a,b,c,d"], ["rotation", "('a', 'b', 'c', 'd')"]),
    (["--dist", "scale=normal:1:0.1"], ["scale", "untruncated normal", "(0, inf)"]),
    (["--dist", "scale=normal:1:0.1:0:2"], ["scale", "low=0.0", "(0, inf)"]),
    (["--dist", "light_temperature=normal:6500:100:5000:50000"], ["high=50000.0", "[1000, 40000]"]),
    (["--dist", "scale=normal:0:1:10:11"], ["mass", "[10.0, 11.0]"]),
    (["--dist", "scale=choice:1,big"], ["scale", "'big'"]),
    (["--dist", "scale=choice:1,-1"], ["scale = -1"]),
    (["--dist", "scale=choice:"], ["scale", "''"]),
    (["--dist", "scale=so3"], ["scale cannot have a so3", "allowed: uniform, normal, choice, fixed"]),
    (["--dist", "category=uniform:0:3"], ["category cannot have a uniform", "allowed: choice, fixed"]),
    (["--dist", "rotation=uniform:0:1"], ["rotation cannot have a uniform", "allowed: so3, fixed"]),
    # categorical values: names or integer indices >= 0
    (["--fix", "category=-1"], ["category", "-1", "integer >= 0"]),
    (["--fix", "category="], ["category", "''"]),
    # unknown names and modes
    (["--fix", "wobble=1"], ["unknown latent 'wobble'", "valid: category"]),
    (["--fix", "yaw=0.5"], ["'yaw'", "pose_mode: euler"]),
    (["--vary", "colour"], ["--vary", "'colour'", "pose"]),
    (["--vary", "pose,colour"], ["'colour'"]),
    (["--vary", ""], ["--vary", "empty", "all, none"]),
    (["--vary", "all,pose"], ["'all'", "all/none alone"]),
    (["--categories", ",,"], ["categories", "''"]),
    (["--passes", "normals"], ["'normals'", "mask, depth"]),
    (["--passes", "mask,normals"], ["'normals'", "mask, depth"]),
    (["--compression", "brotli"], ["'brotli'", "gzip-0..gzip-9"]),
    (["--compression", "gzip-10"], ["'gzip-10'", "lzf"]),
    (["--library", ""], ["library", "''"]),
    # scalar flags: finite numbers in range, integers in range
    (["--fov", "nan"], ["fov_deg", "nan", "1..170"]),
    (["--fov", "inf"], ["fov_deg", "inf"]),
    (["--fov", "1e400"], ["fov_deg", "inf"]),
    (["--fov", "0"], ["fov_deg", "0.0"]),
    (["--margin", "nan"], ["margin", "nan", "[0, 0.5)"]),
    (["--margin", "-0.1"], ["margin", "-0.1"]),
    (["--margin", "0.5"], ["margin", "0.5"]),
    (["--seed", "-1"], ["seed", "-1"]),
    (["--n", "0"], ["n must be", "0"]),
    (["--samples", "0"], ["render.samples", "0"]),
    (["--shard-size", "0"], ["shard_size", "0"]),
    (["--resolution", "5"], ["resolution", "8..4096", "5"]),
]


@pytest.mark.parametrize("args, parts", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flag_is_a_spec_error_naming_the_value(args, parts):
    with pytest.raises(SpecError) as e:
        spec_of(args)
    msg = str(e.value)
    assert "\n" not in msg
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"


@pytest.mark.parametrize("args, parts", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flag_through_the_cli_is_one_line(args, parts, capsys):
    code, out, err = run_cli(["config", *args], capsys)
    lines = err.strip().splitlines()
    assert code == 1 and out == "" and len(lines) == 1 and lines[0].startswith("error: ")
    assert parts[0] in lines[0] and "Traceback" not in err


GOOD_FLAGS = [
    ["--fix", "category=chair"],  # a name: resolved against the library later
    ["--fix", "category=0"],
    ["--fix", "category=nan"],  # categorical values are names, 'nan' is one
    ["--dist", "scale=normal:1:0.1:0.5:1.5"],
    ["--dist", "scale=uniform:1e-9:10"],
    ["--fix", "scale=1e-9"],
    ["--fix", "light_intensity=0", "--fix", "env_strength=0"],
    ["--fix", "light_temperature=1000"],
    ["--fix", "light_temperature=40000"],
    ["--fix", f"light_elevation={-math.pi / 2!r}"],
    ["--fix", "image_x=-1", "--fix", "image_y=1"],
    ["--fix", "distance=1000"],
    ["--fix", "rotation=0,0,0,2"],  # normalisable
    ["--dist", "background_id=choice:0,1"],
    ["--dist", "scale=choice:0.5,1"],
    ["--pose-mode", "euler", "--fix", "pitch=1.5", "--dist", "yaw=uniform:0:6.283"],
    ["--position-mode", "box", "--dist", "position_x=normal:0:0.5:-2:2", "--fix", "position_z=5"],
    ["--vary", "none"],
    ["--vary", "pose,position"],
    ["--passes", ""],
    ["--passes", "mask,depth", "--compression", "gzip-9", "--no-denoise", "--samples", "1"],
    ["--fov", "170", "--margin", "0"],
]


@pytest.mark.parametrize("args", GOOD_FLAGS, ids=[" ".join(a) for a in GOOD_FLAGS])
def test_valid_edge_flags_are_accepted(args):
    spec = spec_of(args)
    assert DatasetSpec.from_dict(spec.to_dict()) == spec


# ---- YAML ---------------------------------------------------------------------------
BAD_YAML = [
    ("render: 5", ["render", "5", "mapping"]),
    ("vary: 5", ["vary", "5"]),
    ("vary: [pose, 3]", ["vary", "3"]),
    ("fix: 5", ["fix", "5", "mapping"]),
    ("fix: {scale: big}", ["fix", "scale", "'big'"]),
    ("fix: {scale: [1, 2]}", ["scale", "(1, 2)"]),
    ("fix: {scale: {a: 1}}", ["scale", "{'a': 1}"]),
    ("fix: {scale: .nan}", ["scale", "nan"]),
    ("fix: {scale: -1}", ["scale = -1", "(0, inf)"]),
    ("fix: {rotation: [0, 0, 0, 0]}", ["rotation", "(0, 0, 0, 0)"]),
    ("fix: {category: 1.5}", ["category", "1.5", "name or an index"]),
    ("fix: {category: true}", ["category", "True"]),
    ("fix: {1: 2}", ["unknown latent '1'"]),
    ("storage: 3", ["storage", "3", "mapping"]),
    ("storage: {compression: 3}", ["compression", "3", "lzf"]),
    ("storage: {compresion: lzf}", ["unknown key 'compresion'", "compression"]),
    ("distributions: 5", ["distributions", "5"]),
    ("distributions: {scale: 5}", ["distributions.scale", "'kind'"]),
    ("distributions: {scale: {kind: [1]}}", ["distributions.scale", "[1]", "uniform"]),
    ("distributions: {scale: {kind: uniform, low: abc, high: 1}}", ["distributions.scale", "low", "'abc'"]),
    ("distributions: {scale: {kind: uniform, low: [1], high: 2}}", ["distributions.scale", "low", "(1,)"]),
    ("distributions: {scale: {kind: uniform, low: .nan, high: 1}}", ["low", "nan"]),
    ("distributions: {scale: {kind: uniform, low: 1}}", ["uniform distribution needs high"]),
    ("distributions: {scale: {kind: normal, mean: 1, std: abc}}", ["std", "'abc'"]),
    ("distributions: {light_temperature: {kind: normal, mean: 6500, std: 100, low: 5000}}",
     ["light_temperature", "untruncated normal", "[1000, 40000]"]),
    ("distributions: {scale: {kind: choice, values: [1, 2], weights: [1]}}", ["weights", "2 value(s)", "(1,)"]),
    ("distributions: {scale: {kind: choice, values: [1, 2], weights: [a, b]}}", ["weights", "('a', 'b')"]),
    ("distributions: {scale: {kind: choice, values: [1, 2], weights: 5}}", ["weights", "5"]),
    ("distributions: {scale: {kind: choice, values: [1, 2], weights: [-1, 2]}}", ["weights", ">= 0"]),
    ("distributions: {scale: {kind: choice, values: 5}}", ["values", "5"]),
    ("distributions: {scale: {kind: choice, values: []}}", ["values", "non-empty"]),
    ("distributions: {scale: {kind: choice}}", ["distributions.scale", "needs values"]),
    ("distributions: {scale: {kind: choice, values: [1, [2]]}}", ["nested more than 4 levels"]),
    ("distributions: {scale: {kind: choice, values: [1, .inf]}}", ["values", "inf"]),
    ("distributions: {scale: {kind: fixed}}", ["fixed distribution needs a value"]),
    ("categories: 5", ["categories", "5"]),
    ("categories: [cube, 3]", ["categories", "3"]),
    ("categories: ''", ["categories", "''"]),
    ("assets: {a: 1}", ["assets", "{'a': 1}"]),
    ("backgrounds: 7", ["backgrounds", "7"]),
    ("n: 1.5", ["n must be an integer", "1.5"]),
    ("n: true", ["n must be an integer", "True"]),
    ("n: '10'", ["n must be an integer", "'10'"]),
    ("n: [10]", ["n must be an integer", "[10]"]),
    ("n: 1" + "9" * 5000, ["not valid YAML", "4300"]),
    ("seed: -1", ["seed", "-1"]),
    ("seed: 2020-01-01", ["seed", "datetime.date"]),
    ("shard_size: 0", ["shard_size", "0"]),
    ("resolution: 64.0", ["resolution", "64.0"]),
    ("fov_deg: '40'", ["fov_deg", "'40'", "1..170"]),
    ("fov_deg: true", ["fov_deg", "True"]),
    ("fov_deg: .inf", ["fov_deg", "inf"]),
    ("fov_deg: [40]", ["fov_deg", "[40]"]),
    ("margin: .nan", ["margin", "nan"]),
    ("margin: false", ["margin", "False"]),
    ("render: {denoise: 'no'}", ["render.denoise", "'no'", "true or false"]),
    ("render: {denoise: 1}", ["render.denoise", "1", "true or false"]),
    ("render: {samples: 1.5}", ["render.samples", "1.5"]),
    ("render: {samples: true}", ["render.samples", "True"]),
    ("render: {passes: 5}", ["render.passes", "5"]),
    ("render: {passes: [mask, 3]}", ["render.passes", "3"]),
    ("render: {passes: [normals]}", ["'normals'", "mask, depth"]),
    ("skip_bad_assets: 'yes'", ["skip_bad_assets", "'yes'", "true or false"]),
    ("library: 5", ["library", "5"]),
    ("library: ''", ["library", "''"]),
    ("position_mode: [image]", ["position_mode", "['image']", "image, box"]),
    ("pose_mode: 3", ["pose_mode", "3", "so3, euler"]),
    ("license:", ["license", "None", "any, cc0"]),
    ("category_sampling: all", ["category_sampling", "'all'", "balanced"]),
    ("colour: red", ["unknown key 'colour'"]),
    ("5", ["mapping", "int"]),
    ("[1, 2]", ["mapping", "list"]),
    ("n: [1", ["not valid YAML"]),
    ("!!python/object:os.system {}", ["not valid YAML"]),
    ("[" * 5000, ["nested too deeply"]),
    ("[" * 5000 + "]" * 5000, ["nested too deeply"]),
    ("fix: {scale: " + "[" * 20 + "1" + "]" * 20 + "}", ["nested more than 4 levels"]),
    ("fix: &x {scale: *x}", ["self-referencing"]),
    ("distributions: {scale: {kind: choice, values: &v [1, *v]}}", ["self-referencing"]),
]


@pytest.fixture
def yaml_file(tmp_path):
    def write(text: str | bytes) -> Path:
        p = tmp_path / "spec.yaml"
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        return p
    return write


@pytest.mark.parametrize("text, parts", BAD_YAML, ids=[t[:40] for t, _ in BAD_YAML])
def test_bad_yaml_is_a_spec_error_naming_file_key_and_value(yaml_file, text, parts):
    path = yaml_file(text)
    with pytest.raises(SpecError) as e:
        DatasetSpec.from_yaml(path)
    msg = str(e.value)
    assert msg.startswith(str(path)) and "\n" not in msg and len(msg) < 400
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"


def test_non_utf8_config(yaml_file):
    with pytest.raises(SpecError, match=r"not UTF-8 text \(byte 0xff at offset 6\)"):
        DatasetSpec.from_yaml(yaml_file(b"n: 5\n\n\xff\xfe"))


def test_config_that_is_a_directory_or_missing_or_unreadable(tmp_path, monkeypatch):
    with pytest.raises(SpecError, match="is a directory"):
        DatasetSpec.from_yaml(tmp_path)
    with pytest.raises(SpecError, match="config file not found"):
        DatasetSpec.from_yaml(tmp_path / "nope.yaml")
    p = tmp_path / "locked.yaml"
    p.write_text("n: 5\n")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(Path, "read_bytes", denied)  # chmod does not stop root
    with pytest.raises(SpecError, match="cannot be read \\(Permission denied\\)"):
        DatasetSpec.from_yaml(p)


def test_deep_data_given_directly_is_refused_without_recursion():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(SpecError, match="nested more than 4 levels"):
        DatasetSpec.from_dict({"fix": {"rotation": deep}})


def test_shared_anchors_are_measured_once(yaml_file):
    # 30 levels of 2 aliases each would be 2**30 paths if walked naively; depth stops it at once
    lines = ["a0: &a0 [1, 1]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 30)]
    with pytest.raises(SpecError, match="nested more than 4 levels"):
        DatasetSpec.from_yaml(yaml_file("\n".join(lines)))


GOOD_YAML = [
    "",
    "n: 10\nrender: {denoise: false}\n",
    "render: {denoise: true, passes: mask}\n",
    "vary: []\n",
    "vary: none\n",
    "fix: {category: chair, rotation: [1, 0, 0, 0]}\n",
    "distributions: {scale: {kind: normal, mean: 1, std: 0.1, low: 0.5}}\n",  # one bound: scale has no upper
    "distributions: {scale: {kind: choice, values: [0.5, 1.0], weights: [1, 3]}}\n",
    "distributions: {category: {kind: choice, values: [cube, 2]}}\n",
    '{"n": 5, "vary": ["pose"], "fov_deg": 40}\n',  # JSON is YAML
    "skip_bad_assets: true\nmargin: 0\nfov_deg: 1\n",
]


@pytest.mark.parametrize("text", GOOD_YAML)
def test_valid_yaml_is_accepted_and_round_trips(yaml_file, text):
    spec = DatasetSpec.from_yaml(yaml_file(text))
    assert DatasetSpec.from_dict(spec.to_dict()) == spec


def test_yaml_booleans_are_strict(yaml_file):
    """'no' in quotes used to turn denoising ON; now only true/false are booleans."""
    assert DatasetSpec.from_yaml(yaml_file("render: {denoise: no}")).render.denoise is False  # YAML 1.1 bool
    for text in ("render: {denoise: 'no'}", "render: {denoise: 'false'}", "skip_bad_assets: 'no'",
                 "skip_bad_assets: 0"):
        with pytest.raises(SpecError, match="must be true or false"):
            DatasetSpec.from_yaml(yaml_file(text))


# ---- built directly: an invalid spec cannot exist ------------------------------------------
@pytest.mark.parametrize("kw, match", [
    ({"n": 1.5}, "n must be an integer"),
    ({"fov_deg": float("nan")}, "fov_deg"),
    ({"vary": ("pose", "colour")}, "'colour'"),
    ({"vary": "pose"}, "vary must be a list"),
    ({"fix": (("scale", -1.0),)}, "scale = -1.0"),
    ({"fix": {"scale": 1.0}}, "fix must be"),
    ({"distributions": (("scale", "uniform"),)}, "must be a distribution"),
    ({"distributions": (("light_elevation", Dist(kind="uniform", low=0, high=2)),)}, "high=2"),
    ({"categories": "cube"}, "categories must be a list"),
    ({"skip_bad_assets": "no"}, "true or false"),
    ({"render": {"samples": 4}}, "render must be RenderSettings"),
])
def test_direct_construction_is_validated(kw, match):
    with pytest.raises(SpecError, match=match):
        DatasetSpec(library="placeholder", **kw)


def test_settings_and_dists_are_validated_when_built():
    with pytest.raises(SpecError, match="render.denoise must be true or false, got 'no'"):
        RenderSettings(denoise="no")
    with pytest.raises(SpecError, match="unknown compression 3"):
        StorageSettings(compression=3)
    with pytest.raises(SpecError, match="uniform low must be a finite number, got 'abc'"):
        Dist(kind="uniform", low="abc", high=1.0)
    with pytest.raises(SpecError, match="high must be a finite number, got 10000...0"):
        Dist(kind="uniform", low=0, high=10**400)  # an int too big for a float


# ---- the latent table ----------------------------------------------------------------
def test_every_latent_declares_a_valid_range_holding_its_canonical_value_and_default():
    for name, p in PARAMS.items():
        assert p.kind in ("continuous", "categorical", "rotation")
        if p.kind != "rotation":
            assert isinstance(p.valid, Range), name
        check_value(name, p.canonical)
        check_dist(name, p.default)


def test_range_bounds_are_inclusive_or_exclusive_as_declared():
    scale = PARAMS["scale"].valid
    assert 0.0 not in scale and 1e-300 in scale and 1e300 in scale and str(scale) == "(0, inf)"
    elev = PARAMS["light_elevation"].valid
    assert math.pi / 2 in elev and -math.pi / 2 in elev and 1.6 not in elev
    assert str(PARAMS["distance"].valid) == "(0, 1000]"


# ---- hash stability ----------------------------------------------------------------------
def test_valid_spec_keeps_its_hash():
    """Identity across versions. The document latentscape 0.2 stored for `DatasetSpec(library=
    "placeholder", n=10)` (0.2 defaults: standard view transform, front canonical pose, distance
    U(3, 6) — no override in its spec) still hashes to the identity 0.2 recorded, reads back with
    those values, and still gives the name-only hash of 0.1; the same flags today (AgX,
    three-quarter view, distance U(2.5, 4.5)) describe another dataset."""
    from latentscape.config import RenderSettings
    from latentscape.config import spec_hash
    from latentscape.latents.distributions import Dist
    before = (("distance", Dist(kind="uniform", low=3.0, high=6.0)),)
    r = resolve(DatasetSpec(library="placeholder", n=10, render=RenderSettings(view_transform="standard"),
                            canonical_pose="front", distributions=before, min_visible=0.0, min_contrast=0.0))
    doc = r.to_dict()
    assert "view_transform" not in doc["spec"]["render"] and "canonical_pose" not in doc["spec"]
    assert not {"min_visible", "min_contrast", "size"} & set(doc["spec"])  # 0.4's guarantees, off before
    assert not {"hull", "colour", "size_m"} & set(doc["objects"][0])
    doc["spec"]["distributions"] = {}  # 0.2 drew U(3, 6) by default: its spec held no override
    assert spec_hash(doc) == PLACEHOLDER_N10_IDENTITY
    back = ResolvedDataset.from_dict(doc)
    assert back.identity() == PLACEHOLDER_N10_IDENTITY
    assert back.legacy_identity() == PLACEHOLDER_N10_HASH  # roots made by 0.1 are still recognised
    assert back.spec.render.view_transform == "standard" and back.spec.canonical_pose == "front"
    assert back.spec.min_visible == 0.0 and back.spec.min_contrast == 0.0 and back.spec.size == "unit"
    assert back.dists["distance"] == Dist(kind="uniform", low=3.0, high=6.0)
    new = resolve(DatasetSpec(library="placeholder", n=10))
    assert new.spec.render.view_transform == "agx" and new.spec.canonical_pose == "three_quarter"
    assert new.identity() != PLACEHOLDER_N10_IDENTITY


# ---- the real command line: one line, non-zero exit, no traceback ----------------------------
def _deep(tmp_path):
    p = tmp_path / "deep.yaml"
    p.write_text("[" * 5000)
    return str(p)


def _bad_bytes(tmp_path):
    p = tmp_path / "bytes.yaml"
    p.write_bytes(b"\xff\xfe\x00n: 5")
    return str(p)


def _no(tmp_path):
    p = tmp_path / "no.yaml"
    p.write_text("render: {denoise: 'no'}\n")
    return str(p)


@pytest.mark.parametrize("make_args, code, part", [
    (lambda t: ["config", "--fix", "scale=big"], 1, "'big'"),
    (lambda t: ["config", "--config", _deep(t)], 1, "nested too deeply"),
    (lambda t: ["config", "--config", _bad_bytes(t)], 1, "not UTF-8"),
    (lambda t: ["latents", "--config", _no(t), "--out", str(t / "x.h5")], 1, "render.denoise"),
    (lambda t: ["latents", "--n", "abc", "--out", str(t / "x.h5")], 2, "'abc' is not a valid integer"),
])
def test_python_dash_m_prints_one_error_line(tmp_path, make_args, code, part):
    r = subprocess.run([sys.executable, "-m", "latentscape", *make_args(tmp_path)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == code and "Traceback" not in r.stderr and part in r.stderr
    lines = r.stderr.strip().splitlines()
    if code == 1:
        assert len(lines) == 1 and lines[0].startswith("error: ")
    else:  # click's usage error (the CLI may print click's Usage/Try/Error lines or one error line)
        assert lines[-1].lower().startswith("error: ")
    assert not (tmp_path / "x.h5").exists()


# ---- property: any document is a spec that round-trips, or one SpecError ------------------------
_LEAF = (st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True) | st.booleans()
         | st.none() | st.text(max_size=6) | st.sampled_from(["uniform", "normal", "choice", "fixed", "so3",
                                                                "cube", "mask", "lzf", "pose", "scale", "kind"]))
_VALUE = st.recursive(_LEAF, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
    st.sampled_from(["kind", "low", "high", "mean", "std", "values", "weights", "value", "samples", "denoise",
                     "passes", "compression", "scale", "category", "rotation", "x"]), kids, max_size=4),
    max_leaves=12)
_KEYS = ["n", "seed", "shard_size", "resolution", "fov_deg", "vary", "fix", "distributions", "position_mode",
         "pose_mode", "margin", "category_sampling", "categories", "library", "assets", "license",
         "skip_bad_assets", "backgrounds", "render", "storage"]


@settings(derandomize=True, max_examples=400, deadline=None)
@given(doc=st.dictionaries(st.sampled_from(_KEYS), _VALUE, max_size=4))
def test_any_document_is_a_valid_spec_or_one_spec_error(doc):
    try:
        spec = DatasetSpec.from_dict(doc)
    except SpecError as e:
        assert "\n" not in str(e) and len(str(e)) < 600
        return
    assert DatasetSpec.from_dict(spec.to_dict()) == spec
    spec_hash({"spec": spec.to_dict()})  # serialisable
    for name, value in spec.fix:
        check_value(name, value)
