"""Property-based fuzz of `latentscape config` and `latentscape latents` (no Blender).

Argument lists are drawn from a grammar mixing valid and invalid flags, values and YAML
files. Each part carries an independent verdict (valid / invalid / no claim for `config`,
and whether `latents` can succeed); the oracle expects a non-zero exit when any part is
invalid, exit 0 when every part is known valid, and in every case: no traceback, an error
of one line, and no file written anywhere but the `--out` path.
"""
from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import click
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from latentscape.cli import main

CATEGORIES = ("cone", "cube", "cylinder", "monkey", "sphere", "torus")  # the placeholder library
N_BACKGROUNDS = 14  # the placeholder library's built-in backgrounds


@dataclass(frozen=True)
class Part:
    """Some argv tokens with the oracle's verdict: `config` True/False/None (valid/invalid/no claim);
    `latents` whether `latents` then succeeds (None: no claim). `key`: a single-valued option, where
    click keeps the last one given. `raw`: tokens that may eat their neighbours (then no claim at all)."""

    args: tuple[str, ...]
    config: bool | None
    latents: bool | None
    key: str | None = None
    yaml: object = None  # (text or bytes) of a --config file to write
    raw: bool = False


def ok(*args, latents=True, key=None):
    return Part(tuple(args), True, latents, key)


def bad(*args, key=None):
    return Part(tuple(args), False, False, key)


def _can_draw(valid: bool, tame: bool) -> bool | None:
    """`latents` verdict of a part: fails if invalid, succeeds if tame, else no claim (e.g. a scale
    of 1e6 is valid but may leave no in-frame position)."""
    return None if valid and not tame else valid


def num(x: float) -> str:
    return repr(float(x))


def floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


# ---- valid parts -----------------------------------------------------------------------
def fixes(pose_mode: str, position_mode: str):
    """--fix NAME=VALUE parts that are valid in these modes (values `latents` can draw around)."""
    common = [
        st.builds(lambda v: ok("--fix", f"scale={num(v)}"), floats(0.5, 1.2)),
        st.builds(lambda v: ok("--fix", f"scale={num(v)}", latents=None), floats(1e-6, 1e6)),
        st.builds(lambda v: ok("--fix", f"light_intensity={num(v)}"), floats(0, 100)),
        st.builds(lambda v: ok("--fix", f"light_temperature={num(v)}"), floats(1000, 40000)),
        st.builds(lambda v: ok("--fix", f"env_strength={num(v)}"), floats(0, 10)),
        st.builds(lambda v: ok("--fix", f"light_elevation={num(v)}"), floats(-1.57, 1.57)),
        st.builds(lambda v: ok("--fix", f"light_azimuth={num(v)}"), floats(-6.28, 6.28)),
        st.builds(lambda v: ok("--fix", f"env_rotation={num(v)}"), floats(-6.28, 6.28)),
        st.builds(lambda c: ok("--fix", f"category={c}"), st.sampled_from(CATEGORIES + ("0", "5"))),
        st.just(ok("--fix", "category=chair", latents=False)),  # a fine name; not in this library
        st.builds(lambda i: ok("--fix", f"background_id={i}"), st.integers(0, N_BACKGROUNDS - 1)),
    ]
    if pose_mode == "so3":
        common.append(st.builds(lambda q: ok("--fix", "rotation=" + ",".join(map(num, q))),
                                st.tuples(*[floats(-1, 1)] * 4).filter(lambda q: sum(x * x for x in q) > 0.01)))
    else:
        common += [st.builds(lambda v: ok("--fix", f"{k}={num(v)}"), floats(-3, 3)) for k in ("yaw", "roll")]
        common.append(st.builds(lambda v: ok("--fix", f"pitch={num(v)}"), floats(-1.5, 1.5)))
    if position_mode == "image":
        common += [st.builds(lambda v, k=k: ok("--fix", f"{k}={num(v)}"), floats(-0.2, 0.2)) for k in ("image_x", "image_y")]
        common.append(st.builds(lambda v: ok("--fix", f"distance={num(v)}"), floats(4, 8)))
        common.append(st.builds(lambda v: ok("--fix", f"distance={num(v)}", latents=None), floats(0.01, 1000)))
    else:
        common += [st.builds(lambda v, k=k: ok("--fix", f"{k}={num(v)}"), floats(-0.2, 0.2)) for k in ("position_x", "position_y")]
        common.append(st.builds(lambda v: ok("--fix", f"position_z={num(v)}"), floats(4, 8)))
    return st.one_of(common)


@st.composite
def truncated_normal(draw, name, lo_range, hi_range):
    lo, hi = draw(floats(*lo_range)), draw(floats(*hi_range))
    mean = draw(floats(lo, hi))
    std = draw(floats((hi - lo) * 0.05, hi - lo))
    return ok("--dist", f"{name}=normal:{num(mean)}:{num(std)}:{num(lo)}:{num(hi)}")


def dists(position_mode: str):
    """--dist parts valid in any pose mode."""
    pair = st.tuples(floats(0.5, 1.2), floats(0.5, 1.2)).map(sorted)
    parts = [
        pair.map(lambda p: ok("--dist", f"scale=uniform:{num(p[0])}:{num(p[1])}")),
        truncated_normal("scale", (0.5, 0.8), (0.9, 1.2)),
        truncated_normal("env_rotation", (-3, -1), (1, 3)),
        st.tuples(floats(1000, 40000), floats(1000, 40000)).map(sorted).map(
            lambda p: ok("--dist", f"light_temperature=uniform:{num(p[0])}:{num(p[1])}")),
        st.lists(floats(0, 10), min_size=1, max_size=3).map(
            lambda v: ok("--dist", "light_intensity=choice:" + ",".join(map(num, v)))),
        st.lists(st.integers(0, N_BACKGROUNDS - 1), min_size=1, max_size=3).map(
            lambda v: ok("--dist", "background_id=choice:" + ",".join(map(str, v)))),
        st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=3).map(
            lambda v: ok("--dist", "category=choice:" + ",".join(v))),
    ]
    if position_mode == "image":
        parts.append(st.just(ok("--dist", "distance=uniform:4:8")))
    return st.one_of(parts)


def scalar_flags():
    """Single-valued flags, each valid or not by an independent rule."""
    def fov(x):
        valid = math.isfinite(x) and 1 <= x <= 170
        return Part(("--fov", num(x)), valid, _can_draw(valid, 40 <= x <= 90), key="fov")

    def margin(x):
        valid = math.isfinite(x) and 0 <= x < 0.5
        return Part(("--margin", num(x)), valid, _can_draw(valid, x <= 0.1), key="margin")

    any_float = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e400, -0.0, 0.5, 170.0])
    groups = ("category", "identity", "position", "pose", "scale", "lighting", "background")
    return st.one_of(
        any_float.map(fov), floats(40, 90).map(fov), any_float.map(margin), floats(0, 0.1).map(margin),
        st.integers(1, 3).map(lambda n: ok("--n", str(n), key="n")),
        st.integers(0, 2**40).map(lambda s: ok("--seed", str(s), key="seed")),
        st.integers(1, 64).map(lambda s: ok("--samples", str(s), key="samples")),
        st.integers(8, 4096).map(lambda r: ok("--resolution", str(r), key="resolution")),
        st.sets(st.sampled_from(groups), min_size=1).map(lambda g: ok("--vary", ",".join(sorted(g)), key="vary")),
        st.sampled_from(["all", "none"]).map(lambda v: ok("--vary", v, key="vary")),
        st.sampled_from(["none", "lzf", "gzip-4", "zstd"]).map(lambda c: ok("--compression", c, key="compression")),
        st.sampled_from(["", "mask", "depth", "mask,depth"]).map(lambda p: ok("--passes", p, key="passes")),
        st.sampled_from(["--denoise", "--no-denoise"]).map(lambda f: ok(f, key="denoise")),
    )


# ---- invalid parts -------------------------------------------------------------------------
BAD_FIX = ["scale=big", "scale=", "scale=nan", "scale=inf", "scale=-inf", "scale=1e400", "scale=-1", "scale=0",
           "scale=1,2", "light_intensity=-1", "light_temperature=-5", "light_temperature=999",
           "light_temperature=40001", "env_strength=-0.1", "distance=-1", "distance=0", "distance=1001",
           "light_elevation=2", "light_elevation=-1.58", "image_x=1.5", "image_y=-1.01", "rotation=0,0,0,0",
           "rotation=1,0,0", "category=-1", "category=", "wobble=1", "scale", "=1"]
BAD_DIST = ["scale=normal:1:0.1:0.5", "scale=normal:1:0.1", "scale=uniform:abc:1", "scale=uniform:-inf:inf",
            "scale=uniform:2:1", "scale=uniform:0:1", "scale=choice:a,b", "scale=gamma:1", "scale=so3",
            "category=uniform:0:1", "light_temperature=uniform:500:6000", "light_elevation=normal:0:1:-2:1",
            "scale=normal:0:1:10:11", "scale=uniform:1:2:3", "wobble=uniform:0:1", "scale", "rotation=uniform:0:1"]


def invalid_parts(pose_mode: str, position_mode: str):
    inactive = ["yaw=0.1"] if pose_mode == "so3" else ["rotation=1,0,0,0"]
    inactive.append("position_z=5" if position_mode == "image" else "distance=5")
    return st.one_of(
        st.sampled_from(BAD_FIX + inactive).map(lambda f: bad("--fix", f)),
        st.sampled_from(BAD_DIST).map(lambda d: bad("--dist", d)),
        st.sampled_from(["colour", "", "all,pose", "pose,,colour"]).map(lambda v: bad("--vary", v, key="vary")),
        st.sampled_from(["normals", "mask,normals"]).map(lambda p: bad("--passes", p, key="passes")),
        st.sampled_from(["brotli", "gzip-10", ""]).map(lambda c: bad("--compression", c, key="compression")),
        st.sampled_from(["0", "-1", "abc", "1.5", ""]).map(lambda n: bad("--n", n, key="n")),
        st.sampled_from(["-1", "x"]).map(lambda s: bad("--seed", s, key="seed")),
        st.sampled_from(["0", "100000"]).map(lambda s: bad("--samples", s, key="samples")),
        st.sampled_from(["4", "5000"]).map(lambda r: bad("--resolution", r, key="resolution")),
        st.just(bad("--categories", ",,")),
        st.just(bad("--library", "", key="library")),
        st.just(bad("--pose-mode", "quat", key="pose_mode")),
        st.just(bad("--no-such-flag")),
    )


def scale_text():
    """--fix scale=<any text>: valid exactly when the text is a finite number > 0."""
    def part(text):
        v = text.strip()
        try:
            x = float(v) if "," not in v else math.nan
        except ValueError:
            x = math.nan
        valid = math.isfinite(x) and x > 0
        return Part(("--fix", f"scale={text}"), valid, _can_draw(valid, 0.5 <= x <= 1.2))
    alphabet = st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"])
    return (st.text(alphabet, max_size=8) | st.sampled_from(["1e-3", " 0.9 ", "1_0", "0x1", "+1", "٣"])).map(part)


def raw_tokens():
    pool = ["--fix", "--dist", "--vary", "--n", "--config", "=", ":", "-", "--", "scale", "nan", "1e400", "x=y"]
    token = st.sampled_from(pool) | st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=6)
    return st.lists(token, min_size=1, max_size=3).map(lambda t: Part(tuple(t), None, None, raw=True))


# ---- YAML files ----------------------------------------------------------------------------------
INT_KEYS = {"n": (1, 10**12), "seed": (0, 2**63 - 1), "shard_size": (1, 10**7), "resolution": (8, 4096)}
ANY_VALUE = st.one_of(
    st.integers(-10, 10**13), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.text(max_size=5), st.lists(st.integers(0, 9), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def typed_yaml():
    """One known key with a value of any type; verdict by an independent rule where one is known."""
    def part(key, value):
        if key in INT_KEYS:
            lo, hi = INT_KEYS[key]
            valid = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
            feasible = valid
        elif key == "fov_deg":
            valid = _is_num(value) and math.isfinite(value) and 1 <= value <= 170
            feasible = valid and 40 <= value <= 90
        elif key == "margin":
            valid = _is_num(value) and math.isfinite(value) and 0 <= value < 0.5
            feasible = valid and value <= 0.1
        else:  # render.denoise
            valid = feasible = isinstance(value, bool)
        doc = {"render": {"denoise": value}} if key == "denoise" else {key: value}
        return Part(("--config",), valid, _can_draw(valid, feasible), key="config", yaml=yaml.safe_dump(doc))
    return st.builds(part, st.sampled_from([*INT_KEYS, "fov_deg", "margin", "denoise"]), ANY_VALUE)


def valid_yaml():
    entries = st.fixed_dictionaries({}, optional={
        "seed": st.integers(0, 2**32), "vary": st.sampled_from([[], ["pose"], ["pose", "lighting"], "all"]),
        "fix": st.sampled_from([{"scale": 0.9}, {"category": "cube"}, {"light_intensity": 2}]),
        "distributions": st.just({"light_intensity": {"kind": "uniform", "low": 1, "high": 2}}),
        "render": st.fixed_dictionaries({}, optional={"denoise": st.booleans(), "samples": st.integers(1, 64),
                                                      "passes": st.sampled_from([[], ["mask"]])}),
        "storage": st.sampled_from([{"compression": "lzf"}, {"compression": "gzip-9"}]),
        "margin": floats(0, 0.1), "fov_deg": floats(40, 90), "library": st.just("placeholder"),
    })
    return entries.map(lambda d: Part(("--config",), True, True, key="config", yaml=yaml.safe_dump(d)))


BAD_YAML = ["render: 5", "vary: 5", "fix: {scale: big}", "storage: 3", "categories: 5", "assets: {a: 1}",
            "n: 1.5", "n: true", "seed: -1", "fov_deg: '40'", "margin: .nan", "fix: {scale: [1, 2]}",
            "render: {denoise: 'no'}", "skip_bad_assets: 'no'", "colour: red", "n: [1", "5",
            "distributions: {scale: {kind: uniform, low: abc, high: 1}}",
            "distributions: {scale: {kind: choice, values: [1, 2], weights: [1]}}",
            "[" * 5000, "fix: &x {scale: *x}", b"n: 5\n\xff\xfe", "n: 1" + "9" * 5000]


def bad_yaml():
    return st.sampled_from(BAD_YAML).map(lambda t: Part(("--config",), False, False, key="config", yaml=t))


# ---- invocations and the oracle -------------------------------------------------------------------
@st.composite
def invocations(draw, commands=("config", "latents")):
    command = draw(st.sampled_from(commands))
    pose_mode = draw(st.sampled_from(["so3", "euler"]))
    position_mode = draw(st.sampled_from(["image", "box"]))
    head = [ok("--library", "placeholder", key="library"), ok("--n", "2", key="n"),
            ok("--pose-mode", pose_mode, key="pose_mode"), ok("--position-mode", position_mode)]
    valid = st.one_of(fixes(pose_mode, position_mode), dists(position_mode), scalar_flags(), valid_yaml())
    weird = st.one_of(invalid_parts(pose_mode, position_mode), scale_text(), typed_yaml(), bad_yaml(), raw_tokens())
    body = draw(st.lists(st.one_of(valid, valid, weird), max_size=5))
    return command, head + body


def verdict(command: str, parts: list[Part]) -> bool | None:
    """True: must exit 0; False: must exit non-zero; None: no claim."""
    if any(p.raw for p in parts):
        return None
    last = {p.key: p for p in parts if p.key}  # click keeps the last value of a single-valued option
    counted = [p for p in parts if not p.key or last[p.key] is p]  # (and converts only that one)
    fixed = [p.args[1].partition("=")[0].strip() for p in parts if p.args[:1] == ("--fix",) and len(p.args) > 1]
    if len(fixed) != len(set(fixed)):
        return False  # one latent fixed twice on the command line
    key = "config" if command == "config" else "latents"  # render succeeds where latents does
    verdicts = [p.config if key == "config" else (False if p.config is False else p.latents) for p in counted]
    if False in verdicts:
        return False
    return True if all(v is True for v in verdicts) else None


def argv_for(command, parts, inputs: Path, out: Path) -> list[str]:
    argv = [command]
    for i, p in enumerate(parts):
        argv += p.args
        if p.yaml is not None:
            f = inputs / f"spec{i}.yaml"
            f.write_bytes(p.yaml if isinstance(p.yaml, bytes) else p.yaml.encode())
            argv.append(str(f))
    if command == "render":  # tiny: 8 px, 1 sample, no progress bar
        argv += ["--resolution", "8", "--samples", "1", "--device", "cpu", "--quiet", "--n", "1"]
    return argv + (["--out", str(out)] if command != "config" else [])


def tree(root: Path) -> set[str]:
    return {str(Path(d, n).relative_to(root)) for d, dirs, files in os.walk(root) for n in dirs + files}


@click.command(context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def entry(argv):
    """The installed entry point, as CliRunner can call it."""
    main(list(argv))


def _fuzz(base, commands, max_examples):
    runner = CliRunner()
    stats = Counter()

    @settings(derandomize=True, max_examples=max_examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(inv=invocations(commands))
    def check(inv):
        command, parts = inv
        root = Path(tempfile.mkdtemp(dir=base))
        inputs, outdir, cwd = root / "in", root / "out", root / "cwd"
        for d in (inputs, outdir, cwd):
            d.mkdir()
        out = outdir / ("ds" if command == "render" else "x.h5")
        argv = argv_for(command, parts, inputs, out)
        before = tree(root)
        with contextlib.chdir(cwd):  # a fresh, empty working directory
            result = runner.invoke(entry, argv)
        stats["invocations"] += 1
        stats[f"{command} exit {result.exit_code}"] += 1
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        if crashed or "Traceback" in result.output:
            stats["tracebacks"] += 1
        assert not crashed, f"{argv}: {result.exception!r}"
        assert "Traceback" not in result.output
        expect = verdict(command, parts)
        stats[f"oracle {expect}"] += 1
        if expect is False:
            assert result.exit_code != 0, f"{argv} was accepted: {result.output}"
        if expect is True:
            assert result.exit_code == 0, f"{argv}: {result.output}"
        if result.exit_code != 0:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
        written = tree(root) - before
        if command == "render" and result.exit_code == 0:
            assert written and all(w == "out/ds" or w.startswith("out/ds/") for w in written), written
        else:
            allowed = {"out/x.h5"} if command == "latents" and result.exit_code == 0 else set()
            assert written == allowed, f"{argv} wrote {written - allowed or 'nothing'}"  # cwd/ included

    check()
    print(f"\nfuzz: {dict(sorted(stats.items()))}")
    assert stats["tracebacks"] == 0
    return stats


def test_fuzz_cli_never_tracebacks_and_writes_only_out(tmp_path_factory):
    stats = _fuzz(tmp_path_factory.mktemp("fuzz"), ("config", "latents"), 200)
    assert stats["oracle False"] >= 50 and stats["oracle True"] >= 30 and stats["latents exit 0"] >= 10


def test_fuzz_render_tiny_specs(tmp_path_factory):
    """The same grammar through `render` (n=1, 8 px, 1 sample): valid specs render into --out
    and nowhere else; invalid ones stop before Blender with one line."""
    stats = _fuzz(tmp_path_factory.mktemp("fuzz_render"), ("render",), 16)
    assert stats["render exit 0"] >= 3 and stats["oracle False"] >= 3
