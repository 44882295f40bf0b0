"""Which Cycles device is used and how many workers run on it: pure decisions, tested
without bpy or a GPU; one test checks the decision on the devices Cycles reports here."""
import importlib.util

import pytest

from latentscape.errors import DeviceError
from latentscape.pipeline import local
from latentscape.pipeline.local import worker_plan
from latentscape.renderer.device_choice import GPU_TYPES, DeviceUnavailableError, choose_device

CPU_ONLY = {"OPTIX": [], "CUDA": [], "HIP": [], "ONEAPI": [], "METAL": [], "CPU": ["AMD EPYC"]}


def _with(**gpus):
    return {**CPU_ONLY, **{t.upper(): list(v) for t, v in gpus.items()}}


# ---- choose_device ---------------------------------------------------------------------------
@pytest.mark.parametrize("i", range(len(GPU_TYPES)))
def test_auto_takes_the_first_gpu_type_in_order(i):
    """auto: OPTIX, CUDA, HIP, ONEAPI, METAL, then CPU: with types i.. present, type i wins."""
    assert GPU_TYPES == ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL")
    avail = _with(**{t: [f"{t} dev 0", f"{t} dev 1"] for t in GPU_TYPES[i:]})
    assert choose_device("auto", avail) == (GPU_TYPES[i], [f"{GPU_TYPES[i]} dev 0", f"{GPU_TYPES[i]} dev 1"])


def test_auto_falls_back_to_cpu():
    assert choose_device("auto", CPU_ONLY) == ("CPU", ["AMD EPYC"])
    assert choose_device("auto", {}) == ("CPU", ["CPU"])  # nothing listed at all: still the CPU
    assert choose_device("auto", {"CUDA": [], "CPU": []}) == ("CPU", ["CPU"])


def test_explicit_requests_case_and_space_insensitive():
    avail = _with(cuda=["H100 a", "H100 b"], optix=["H100 a", "H100 b"])
    assert choose_device("cuda", avail) == ("CUDA", ["H100 a", "H100 b"])
    assert choose_device(" CUDA ", avail) == ("CUDA", ["H100 a", "H100 b"])
    assert choose_device("Optix", avail) == ("OPTIX", ["H100 a", "H100 b"])
    assert choose_device("cpu", avail) == ("CPU", ["AMD EPYC"])  # the CPU even where GPUs exist
    assert choose_device("CPU", {"CUDA": ["x"]}) == ("CPU", ["CPU"])


def test_result_is_a_copy():
    avail = _with(cuda=["A"])
    _, names = choose_device("cuda", avail)
    names.append("B")
    assert avail["CUDA"] == ["A"]


@pytest.mark.parametrize("req", ["cuda", "optix", "hip", "oneapi", "metal"])
def test_unavailable_gpu_type_is_an_error_naming_request_and_found(req):
    with pytest.raises(DeviceUnavailableError) as ei:
        choose_device(req, CPU_ONLY)
    msg = str(ei.value)
    assert f"requested render device {req!r}" in msg and req.upper() in msg and "AMD EPYC" in msg
    assert isinstance(ei.value, DeviceError) and isinstance(ei.value, ValueError)
    with pytest.raises(DeviceUnavailableError, match="no devices at all"):
        choose_device(req, {})


def test_another_gpu_type_does_not_count():
    with pytest.raises(DeviceUnavailableError, match=r"found: \{'CUDA': \['H100'\], 'CPU': \['AMD EPYC'\]\}"):
        choose_device("hip", _with(cuda=["H100"]))


@pytest.mark.parametrize("req", ["tpu", "gpu", "", "cuda:0", None])
def test_unknown_request_lists_the_allowed(req):
    with pytest.raises(DeviceError, match=r"unknown render device .*expected one of auto\|cpu\|cuda\|hip\|metal"):
        choose_device(req, CPU_ONLY)


@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy not installed")
def test_choice_on_the_devices_cycles_reports_here():
    """On this machine's real device list (GPU or not): auto is the first GPU type with a
    device, else the CPU; cpu is always the CPU; a GPU type with no device is refused."""
    from latentscape.renderer.probe import probe_devices
    avail = probe_devices()
    assert avail.get("CPU"), avail
    assert set(avail) >= {"CPU", *GPU_TYPES}, avail
    present = [t for t in GPU_TYPES if avail[t]]
    want = (present[0], avail[present[0]]) if present else ("CPU", avail["CPU"])
    assert choose_device("auto", avail) == want
    assert choose_device("cpu", avail) == ("CPU", avail["CPU"])
    for t in GPU_TYPES:
        if avail[t]:
            assert choose_device(t.lower(), avail) == (t, avail[t])
        else:
            with pytest.raises(DeviceUnavailableError):
                choose_device(t.lower(), avail)


# ---- worker_plan -----------------------------------------------------------------------------
@pytest.fixture
def cores(monkeypatch):
    monkeypatch.setattr(local, "available_cpus", lambda: 16)


@pytest.mark.parametrize("workers, k, threads", [(None, 1, 16), (0, 1, 16), (1, 1, 16), (3, 3, 5), (16, 16, 1),
                                                 (40, 40, 1)])
def test_cpu_workers_share_the_cores(cores, workers, k, threads):
    for device in ("cpu", "auto"):
        plan = worker_plan(device, workers, 1, CPU_ONLY)
        assert plan == [{"device": "cpu", "device_slot": None, "threads": threads}] * k


def test_unknown_cpu_count_still_gives_one_thread(monkeypatch):
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    monkeypatch.delattr(local.os, "sched_getaffinity")
    monkeypatch.setattr(local.os, "cpu_count", lambda: None)
    assert worker_plan("cpu", 2, 1, CPU_ONLY) == [{"device": "cpu", "device_slot": None, "threads": 1}] * 2


def test_available_cpus_follow_the_allocation_not_the_node(monkeypatch):
    """A Slurm job's CPUs, else the affinity mask (a job must not start a thread per core of a node)."""
    monkeypatch.setattr(local.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    monkeypatch.setattr(local.os, "cpu_count", lambda: 64)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert local.available_cpus() == 3
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "2")
    assert local.available_cpus() == 2
    assert worker_plan("cpu", None, 1, CPU_ONLY) == [{"device": "cpu", "device_slot": None, "threads": 2}]


def test_cpu_request_ignores_gpus(cores):
    two = _with(cuda=["A", "B"], optix=["A", "B"])
    assert worker_plan("cpu", 2, 4, two) == [{"device": "cpu", "device_slot": None, "threads": 8}] * 2


@pytest.mark.parametrize("per, want", [(1, [0, 1]), (3, [0, 0, 0, 1, 1, 1]), (0, [0, 1])])
def test_gpu_workers_per_device(cores, per, want):
    two = _with(cuda=["A", "B"], optix=["A", "B"])
    plan = worker_plan("cuda", None, per, two)
    assert [p["device_slot"] for p in plan] == want
    assert all(p["device"] == "cuda" and p["threads"] == 1 for p in plan)
    assert [p["device"] for p in worker_plan("auto", 7, per, two)] == ["optix"] * len(want)  # workers= is for CPUs


def test_gpu_plan_on_a_cpu_only_machine_is_an_error():
    with pytest.raises(DeviceUnavailableError, match="requested render device 'cuda'"):
        worker_plan("cuda", None, 1, CPU_ONLY)
