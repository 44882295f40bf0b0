"""`latentscape status ROOT`: what a root holds and what is happening to it, read from the root alone.

Shards are done (listed in the manifest), running (a live claim: host, pid, expiry),
failed (attempts recorded in failures/, not rendered since) or missing (none of
these). The rate is measured from the finish times of the shard files (their
mtimes), over the last `RATE_WINDOW_S`; the ETA divides what is missing by it.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from latentscape.dataset.manifest import load_manifest
from latentscape.pipeline import failures
from latentscape.pipeline.jobs import submissions
from latentscape.pipeline.root import CLAIMS

RATE_WINDOW_S = 600.0


@dataclass
class RootStatus:
    root: Path
    n: int
    shard_size: int
    shards: int                       # in the plan
    done_shards: int
    done_images: int
    running: list = field(default_factory=list)     # (shard id, host, pid, seconds left on the claim)
    stale: list = field(default_factory=list)       # claims past their expiry (holder gone): shard ids
    failed: list = field(default_factory=list)      # failures.ShardFailures of shards not done
    rate_img_s: float | None = None
    last_submission: dict | None = None
    queue: dict | None = None         # Slurm states of the last submission's jobs, when squeue answers

    @property
    def missing_shards(self) -> int:
        return self.shards - self.done_shards - len(self.running) - len(self.failed)

    @property
    def eta_s(self) -> float | None:
        left = self.n - self.done_images
        return left / self.rate_img_s if self.rate_img_s and left else None

    def lines(self) -> list[str]:
        pct = 100.0 * self.done_images / self.n if self.n else 100.0
        out = [f"{self.root}: {self.done_images} of {self.n} images ({pct:.1f} %) in {self.done_shards} of "
               f"{self.shards} shards"]
        out.append(f"shards: {self.done_shards} done, {len(self.running)} running, {len(self.failed)} failed, "
                   f"{max(0, self.missing_shards)} missing" + (f" ({len(self.stale)} with an expired claim)"
                                                                 if self.stale else ""))
        if self.rate_img_s:
            eta = f", ETA {_duration(self.eta_s)}" if self.eta_s else ""
            out.append(f"rate: {self.rate_img_s:.2f} img/s over the last {_duration(RATE_WINDOW_S)}{eta}")
        for sid, host, pid, left in self.running[:10]:
            out.append(f"  running: shard {sid} on {host} (pid {pid}), claim renewed {left:.0f} s ahead")
        for f in self.failed[:10]:
            out.append(f"  failed: shard {f.shard_id} ({len(f.attempts)} attempt(s)), last: {f.last_cause}")
        if self.last_submission:
            s = self.last_submission
            ids = s.get("jobs") or []
            line = (f"last submission: {len(ids)} {s.get('executor')} job(s) "
                    f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(s.get('time', 0)))}")
            if self.queue:
                line += "; in the queue: " + ", ".join(f"{v} {k.lower()}" for k, v in sorted(self.queue.items()))
            out.append(line)
        return out


def root_status(root: str | Path, query_queue: bool = True) -> RootStatus:
    """Read the status of a dataset root (raises DatasetNotFoundError for a non-root)."""
    root = Path(root)
    m = load_manifest(root)
    spec = m["spec"]
    n, size = spec["n"], spec["shard_size"]
    done = {s["index_start"] // size for s in m["shards"]}
    st = RootStatus(root, n, size, -(-n // size), len(done), sum(s["count"] for s in m["shards"]))
    now = time.time()
    for sid, body in _claims(root):
        if sid in done:
            continue
        try:
            left = float(body.get("expires", 0)) - now
        except (TypeError, ValueError):
            left = -1.0  # unreadable expiry: treat as expired
        if left > 0:
            st.running.append((sid, body.get("host", "?"), body.get("pid", "?"), left))
        else:
            st.stale.append(sid)
    running = {r[0] for r in st.running}
    st.failed = [f for f in failures.all_failures(root) if f.shard_id not in done and f.shard_id not in running]
    st.rate_img_s = _rate(root, m["shards"], now)
    subs = submissions(root)
    st.last_submission = subs[-1] if subs else None
    if query_queue and st.last_submission and st.last_submission.get("executor") == "slurm":
        st.queue = _slurm_states(st.last_submission.get("jobs") or [])
    return st


def _claims(root: Path):
    d = root / CLAIMS
    for p in sorted(d.glob("shard-*.claim")) if d.is_dir() else ():
        digits = p.name[len("shard-"):-len(".claim")]
        try:
            body = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if digits.isdigit() and isinstance(body, dict):
            yield int(digits), body


def _rate(root: Path, shards: list, now: float) -> float | None:
    """Images per second from shard files finished in the last window (None: too few)."""
    times = []
    for rec in shards:
        try:
            times.append(((root / rec["file"]).stat().st_mtime, rec["count"]))
        except OSError:
            continue
    recent = sorted(t for t in times if t[0] >= now - RATE_WINDOW_S)
    if len(recent) < 2:
        return None
    span = max(now, recent[-1][0]) - recent[0][0]
    # the first shard's images were rendered before the window's start: count the rest
    return sum(c for _, c in recent[1:]) / span if span > 0 else None


def _slurm_states(job_ids: list[str]) -> dict | None:
    if not job_ids or shutil.which("squeue") is None:
        return None
    arrays = sorted({str(j).split("_")[0] for j in job_ids})
    try:
        r = subprocess.run(["squeue", "-h", "-r", "-j", ",".join(arrays), "-o", "%T"], capture_output=True, text=True,
                           timeout=15)
    except (subprocess.TimeoutExpired, OSError):
        return None
    if r.returncode != 0:
        return None
    counts: dict[str, int] = {}
    for state in r.stdout.split():
        counts[state] = counts.get(state, 0) + 1
    return counts


def _duration(s: float) -> str:
    s = int(round(s))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
