"""A render worker process: imports bpy once, then renders whole shards from a task queue.

Messages to the parent (tuples on `results`):
  ("ready", wid, device_used)          stage built
  ("started", wid, shard_id)           the worker took a shard (the parent knows what a crash interrupts)
  ("progress", wid, n_images)          images finished since the last message
  ("done", wid, shard_id, record)      shard written to its temporary name; `record` is its manifest
                                       entry (the parent moves it into place under the manifest lock)
  ("failed", wid, shard_id, message)   the shard failed (message names shard, image, cause); the
                                       worker exits next, since its Blender state is suspect
  ("error", wid, message)              failure that no retry can help (start-up, disk full)
  ("exit", wid, reason)                worker finished: "done" (queue drained or stop requested),
                                       "recycle" (rendered `recycle_shards` shards: a fresh process
                                       takes over) or "failed" (after a "failed" message)
"""
from __future__ import annotations

import errno
import os
import queue
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentscape.latents.space import OCCLUDED_DOC
from latentscape.renderer.child import clean_sys_path
from latentscape.renderer.types import BackgroundRef, ImageState, ObjectRef, StageSettings

PROGRESS_EVERY_S = 0.25
IDLE_POLL_S = 0.5


class Stopped(Exception):
    """Raised inside a shard when the parent asked to stop; the partial shard is discarded."""


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs, resolved by the parent: the worker never resolves a spec.

    Latents are drawn by the parent and arrive with each shard task."""

    root: str
    spec_hash: str                       # the dataset's identity
    identity: str                        # JSON of the resolved description, stored in every shard
    settings: StageSettings
    objects: tuple[ObjectRef, ...]       # the dataset's object table, by object_id
    backgrounds: tuple[BackgroundRef, ...]  # the background table, by background_id
    compression: str
    passes: tuple[str, ...]
    recycle_shards: int = 0              # exit after this many shards (0: never); the parent starts a fresh one


def worker_main(wid: int, cfg: WorkerConfig, tasks, results, stop_event, parent: int | None = None):
    """Entry point of a worker process (spawned; never forked from a bpy process). `parent`: the pid
    of the process that started it; the worker stops when that process is gone."""
    # Ctrl-C and SIGTERM reach the whole process group; the parent handles them and
    # sets stop_event, so the current shard is discarded cleanly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGINT, signal.SIGTERM))  # blocked while spawning
    # h5py reports write failures of a dying file again from object finalizers (dozens of
    # "Exception ignored" tracebacks on a full disk); the error itself reaches the parent.
    sys.unraisablehook = lambda unraisable: None
    # The parent's pid comes from the parent: read here it could already be 1, where the parent was
    # killed while this process was still importing (a Slurm job cancelled at its start), and the
    # worker would then wait for tasks for ever.
    parent = os.getppid() if parent is None else parent
    if os.getppid() != parent:
        return
    try:
        stage = _build(cfg)
        device_used = stage.device_used
    except Exception as e:  # noqa: BLE001 - report anything, the parent turns it into one line
        results.put(("error", wid, f"worker {wid} could not start: {_describe(e)}"))
        results.put(("exit", wid, "done"))
        return
    results.put(("ready", wid, device_used))
    results.put(("exit", wid, _serve(wid, cfg, stage, device_used, tasks, results, stop_event, parent)))


def _serve(wid, cfg, stage, device_used, tasks, results, stop_event, parent) -> str:
    """Render shards from the queue; returns why the worker stops (see the module docstring)."""
    should_stop = lambda: stop_event.is_set() or os.getppid() != parent  # noqa: E731
    shards = 0
    while not stop_event.is_set():
        if cfg.recycle_shards and shards >= cfg.recycle_shards:
            return "recycle"
        try:  # never block for good: the parent may stop (or die) while this worker is idle
            item = tasks.get(timeout=IDLE_POLL_S)
        except queue.Empty:
            if should_stop():
                break
            continue
        if item is None:
            break
        task, tmp, lat = item
        results.put(("started", wid, task.shard_id))
        try:
            record = _render_shard(stage, cfg, task, Path(tmp), lat, device_used, results, wid, should_stop)
        except Stopped:
            break
        except Exception as e:  # noqa: BLE001
            # HDF5 does not always say why a write failed (e.g. "Slist already enabled?"): ask the disk
            if _no_space(Path(cfg.root)):
                results.put(("error", wid, "No space left on device"))
                break
            results.put(("failed", wid, task.shard_id, _describe(e)))
            return "failed"
        results.put(("done", wid, task.shard_id, record))
        shards += 1
    return "done"


def _build(cfg: WorkerConfig):
    clean_sys_path()
    from latentscape.renderer.blender.stage import Stage
    return Stage(cfg.settings, list(cfg.objects), list(cfg.backgrounds))


KEEP_ALL_OBJECTS_UP_TO = 64


def render_order(latents: dict) -> np.ndarray:
    """The order a shard is rendered in (storage order is always the index order).

    Object-major, then background: at 224^2 switching the visible object costs
    ~29 ms (it is re-added to the scene) and switching the background ~11 ms, so
    each object is shown in one run; a big library then also needs only one
    loaded object at a time.
    """
    return np.lexsort((latents["background_id"], latents["object_id"]))


class _Progress:
    """Batches per-image progress messages to the parent (at most one per PROGRESS_EVERY_S)."""

    def __init__(self, results, wid):
        self.results, self.wid, self.pending, self.last = results, wid, 0, time.monotonic()

    def add(self, n=1):
        self.pending += n
        if time.monotonic() - self.last >= PROGRESS_EVERY_S:
            self.flush()

    def flush(self):
        if self.pending:
            self.results.put(("progress", self.wid, self.pending))
        self.pending, self.last = 0, time.monotonic()


def _render_shard(stage, cfg, task, tmp: Path, lat: dict, device_used, results, wid, should_stop) -> dict:
    from latentscape.dataset.format import shard_name
    from latentscape.dataset.writer import ShardWriter

    attrs = {"spec_hash": cfg.spec_hash, "resolved_spec": cfg.identity, "device": device_used,
             "blender_version": stage.blender_version, "shard_id": task.shard_id}
    loads0, secs0, t_start = stage.store.loads, stage.store.load_seconds, time.monotonic()
    evict = len(cfg.objects) > KEEP_ALL_OBJECTS_UP_TO
    _start_shard(stage, lat, evict)
    progress = _Progress(results, wid)
    with ShardWriter(Path(cfg.root) / "shards" / shard_name(task.shard_id), task.start, task.count,
                     cfg.settings.resolution, cfg.compression, attrs, passes=cfg.passes,
                     tmp=tmp, rename=False) as w:
        w.write_latents(lat)
        visible, clipped, contrast, occluded = _render_rows(stage, lat, w, task, evict, progress, should_stop)
        w.write_meta("visible_fraction", visible, "fraction of image pixels covered by the object (0..1)")
        if "distractor_count" in lat:  # the target's share hidden by distractors, measured
            w.write_meta("occluded_fraction", occluded, OCCLUDED_DOC)
        w.write_meta("clipped_fraction", clipped, "share of the object's pixels with all channels >= 254 (NaN: none)")
        w.write_meta("contrast", contrast, "|mean sRGB luminance of the object - of a 3-px ring around it|, /255")
        w.set_attrs(asset_loads=stage.store.loads - loads0, asset_load_seconds=stage.store.load_seconds - secs0,
                    render_seconds=time.monotonic() - t_start, worker_peak_rss_mb=_peak_rss_mb())
    progress.flush()
    return w.record()


def _start_shard(stage, lat, evict: bool):
    """Free objects the shard does not need, then render once with no object.

    With persistent data, an image showing the same object as the image before it
    depends slightly on the render history (the BVH is refit, not rebuilt; measured
    ~75 edge pixels of 4096 at 64^2). The empty render makes a shard's pixels a
    function of the shard alone, whichever worker renders it, fresh or resumed.
    """
    stage.keep_only([] if evict else shard_objects(lat))
    stage.clear_render()


def shard_objects(lat) -> np.ndarray:
    """The object ids a shard shows: its targets and its distractors."""
    ids = np.asarray(lat["object_id"]).ravel()
    if "distractor_object_id" in lat:
        d = np.asarray(lat["distractor_object_id"]).ravel()
        ids = np.concatenate([ids, d[d >= 0]])
    return np.unique(ids)


def _render_rows(stage, lat, w, task, evict, progress, should_stop):
    """Render every row in render order into the writer; returns what each image shows: visible
    fractions, clipped fractions and contrasts (dataset.fidelity), and the target's occluded fractions."""
    from latentscape.dataset.fidelity import image_fidelity
    visible = np.zeros(task.count, dtype=np.float32)
    occluded = np.full(task.count, np.nan, dtype=np.float32)
    clipped = np.full(task.count, np.nan, dtype=np.float32)
    contrast = np.full(task.count, np.nan, dtype=np.float32)
    order = render_order(lat)
    fail_at = _injected_failure(task, FAIL_ENV)
    crash_at = _injected_failure(task, CRASH_ENV)
    for pos, row in enumerate(order):
        if should_stop():  # asked to stop, or the parent died
            raise Stopped()
        state = ImageState.from_row(lat, row)
        try:
            if task.start + row == fail_at:
                raise RuntimeError(f"failure injected by {FAIL_ENV}")
            if task.start + row == crash_at:
                os.kill(os.getpid(), signal.SIGKILL)  # a Blender crash or the OOM killer, as the parent sees it
            rgb, mask = stage.render(state)
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"shard {task.shard_id}, image {task.start + row}: {_describe(e)}") from e
        visible[row] = float(mask.mean()) / 255.0 if mask is not None else np.nan
        occluded[row] = stage.last_occluded_fraction
        if mask is not None:
            clipped[row], contrast[row] = image_fidelity(rgb, mask)
        w.write_image(int(row), rgb, mask=mask, depth=stage.depth() if stage.want_depth else None)
        last_of_object = pos + 1 == len(order) or lat["object_id"][order[pos + 1]] != state.object_id
        if evict and last_of_object:
            stage.keep_only([])  # this object's run is over: free it
        progress.add()
    return visible, clipped, contrast, occluded


FAIL_ENV = "LATENTSCAPE_TEST_FAIL_IMAGE"     # raise at that image
CRASH_ENV = "LATENTSCAPE_TEST_CRASH_IMAGE"   # SIGKILL the worker at that image


def _injected_failure(task, env: str) -> int | None:
    """For the retry tests: `IMAGE` fails that image every time; `IMAGE:FILE` fails it once
    (only while FILE does not exist; the failure creates FILE)."""
    raw = os.environ.get(env)
    if not raw:
        return None
    image, _, marker = raw.partition(":")
    i = int(image)
    if not task.start <= i < task.stop:
        return None
    if marker:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return None
    return i


def _no_space(root: Path, probe_bytes: int = 1 << 20) -> bool:
    """True if a 1 MiB file cannot be written next to the shards (the disk is full)."""
    from latentscape.files import owner_tag
    probe = root / "shards" / f".space-probe.{owner_tag()}.tmp"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"\0" * probe_bytes)
            fh.flush()
            os.fsync(fh.fileno())
        return False
    except OSError as e:
        return e.errno in (errno.ENOSPC, errno.EDQUOT)
    finally:
        probe.unlink(missing_ok=True)


def _peak_rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _describe(e: BaseException) -> str:
    if isinstance(e, OSError) and e.errno == errno.ENOSPC or "No space left on device" in str(e):
        return "No space left on device"
    tb = traceback.extract_tb(e.__traceback__)
    where = f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
    return f"{type(e).__name__}: {e}{where}"
