"""Rules of the test suite itself (tests/conftest.py): with CI set a skipped test fails the run
(proved on inner pytest runs of throwaway test directories that use this suite's conftest),
and tests never write to the user's caches."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).with_name("conftest.py")

PASSING = "def test_ok():\n    assert True\n"
XFAIL = "import pytest\n\n@pytest.mark.xfail(reason='known', strict=True)\ndef test_known():\n    assert False\n"
CASES = {
    "skip-in-test": "import pytest\n\ndef test_needs_bpy():\n    pytest.skip('bpy not installed')\n",
    "skip-module": "import pytest\npytest.skip('bpy not installed', allow_module_level=True)\n\ndef test_x():\n    pass\n",
    "importorskip": "import pytest\npytest.importorskip('no_such_module_latentscape_test')\n\ndef test_x():\n    pass\n",
    "skipif": "import pytest\n\n@pytest.mark.skipif(True, reason='apt-get install sweethome3d-furniture')\n"
              "def test_x():\n    pass\n",
}


def _run(d, cases, ci):
    """Run pytest on a fresh directory `d` holding this suite's conftest, a passing test, an
    xfail test and `cases` (file stem -> source); CI set to `ci` (None: unset)."""
    d.mkdir(parents=True)
    shutil.copy(CONFTEST, d / "conftest.py")  # the hook under test, unchanged
    (d / "test_ok.py").write_text(PASSING)
    (d / "test_xfail.py").write_text(XFAIL)
    for stem, body in cases.items():
        (d / f"test_{stem.replace('-', '_')}.py").write_text(body)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(d), str(d)],
                       capture_output=True, text=True, env=env, cwd=d, timeout=120)
    return r.returncode, r.stdout + r.stderr


REASONS = {"skip-in-test": "bpy not installed", "skip-module": "bpy not installed",
           "importorskip": "no_such_module_latentscape_test", "skipif": "sweethome3d-furniture"}


def test_skips_pass_locally_and_fail_in_ci(tmp_path):
    rc, out = _run(tmp_path / "local", CASES, ci=None)
    assert rc == 0, out
    assert "4 skipped" in out and "1 xfailed" in out and "SKIPPED IN CI" not in out, out
    rc, out = _run(tmp_path / "ci", CASES, ci="1")
    assert rc == 1, out
    assert "CI is set: 4 skipped test(s) fail the run" in out, out
    lines = [x for x in out.splitlines() if x.startswith("SKIPPED IN CI")]
    for case, reason in REASONS.items():  # every kind of skip is caught and named with its reason
        assert any(case.replace("-", "_") in x and reason in x for x in lines), (case, lines)


def test_a_single_skip_fails_ci(tmp_path):
    rc, out = _run(tmp_path / "inner", {"skip-in-test": CASES["skip-in-test"]}, ci="true")
    assert rc == 1 and "1 skipped" in out and "1 passed" in out, out


def test_no_skip_passes_in_ci(tmp_path):
    """Passing tests and an expected failure (xfail) do not fail CI."""
    rc, out = _run(tmp_path / "inner", {}, ci="1")
    assert rc == 0 and "SKIPPED IN CI" not in out, out


def test_ci_switched_off_by_zero(tmp_path):
    rc, out = _run(tmp_path / "inner", {"skip-in-test": CASES["skip-in-test"]}, ci="0")
    assert rc == 0, out


def test_failing_test_keeps_its_exit_code_in_ci(tmp_path):
    rc, out = _run(tmp_path / "inner", {"bad": "def test_bad():\n    assert 1 == 2\n"}, ci="1")
    assert rc == 1 and "1 failed" in out, out


def test_caches_are_private(private_caches):
    """Every cache points into the session's temporary directory, for this process and the
    processes it starts: the user's ~/.cache is never written by the tests."""
    import tempfile

    from latentscape.dataset.encodings import cache_dir
    tmp = Path(tempfile.gettempdir()).resolve()
    assert Path.home() == private_caches and private_caches.resolve().is_relative_to(tmp)
    for var in ("LATENTSCAPE_CACHE", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "MPLCONFIGDIR"):
        assert Path(os.environ[var]).resolve().is_relative_to(private_caches.resolve()), var
    assert cache_dir().resolve().is_relative_to(private_caches.resolve())
    code = "import os, pathlib; print(pathlib.Path.home(), os.environ['LATENTSCAPE_CACHE'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    assert out == [str(private_caches), os.environ["LATENTSCAPE_CACHE"]]
