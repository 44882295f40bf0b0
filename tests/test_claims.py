"""Lease files (pipeline/claims.py): exclusive, renewable, taken over only once expired."""
import json
import multiprocessing as mp
import time

import pytest

from latentscape.pipeline import claims
from latentscape.pipeline.root import remove_tmp_files


def test_a_live_lease_is_exclusive_and_released(tmp_path):
    p = tmp_path / "x.claim"
    a = claims.acquire(p, ttl=30)
    assert a is not None and a.held()
    assert claims.acquire(p, ttl=30) is None  # live: nobody else gets it
    body = json.loads(p.read_text())
    assert body["token"] == a.token and body["expires"] > time.time() + 25 and body["tag"].endswith(f".{body['pid']}")
    a.release()
    assert not p.exists()
    assert claims.acquire(p, ttl=30) is not None


class Clock:
    """claims' view of time.time(), moved by the test: lease expiry without sleeping or racing."""

    def __init__(self):
        self.now = time.time()

    def time(self):
        return self.now

    def __getattr__(self, name):  # monotonic, sleep, strftime...: the real ones
        return getattr(time, name)


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(claims, "time", c)
    return c


def test_an_expired_lease_is_taken_over_and_its_holder_learns_it(tmp_path, clock):
    p = tmp_path / "x.claim"
    old = claims.acquire(p, ttl=0.2)
    seen = []
    clock.now += 0.1
    assert claims.acquire(p, ttl=30) is None  # still live
    clock.now += 0.2
    new = claims.acquire(p, ttl=30, on_takeover=seen.append)
    assert new is not None and new.token != old.token
    assert seen and seen[0]["token"] == old.token  # the taker learns whose leftovers to clean
    assert not old.held() and not old.renew()      # the old holder sees it lost the lease
    old.release()                                  # ...and releasing does not delete the new lease
    assert new.held()


def test_renewing_keeps_a_lease_alive(tmp_path, clock):
    p = tmp_path / "x.claim"
    a = claims.acquire(p, ttl=0.5)
    for _ in range(4):  # 1.6 s in all, well past one lease time
        clock.now += 0.4
        assert a.renew()
        assert claims.acquire(p, ttl=0.5) is None
    clock.now += 0.6  # not renewed: expired, taken over
    assert claims.acquire(p, ttl=0.5) is not None and not a.renew()


def test_a_half_written_lease_counts_as_live_until_its_mtime_is_old(tmp_path):
    p = tmp_path / "x.claim"
    p.write_text("")  # a holder that crashed between O_EXCL create and write, or is still writing
    assert claims.acquire(p, ttl=5) is None
    time.sleep(0.05)
    assert claims.acquire(p, ttl=0.01) is not None


def _race(path, ttl, q):
    q.put(claims.acquire(path, ttl) is not None)


def test_many_processes_racing_for_an_expired_lease_give_one_winner(tmp_path):
    p = tmp_path / "x.claim"
    claims.acquire(p, ttl=0.05)
    time.sleep(0.1)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(p, 30, q)) for _ in range(8)]
    for pr in procs:
        pr.start()
    wins = [q.get(timeout=60) for _ in procs]
    for pr in procs:
        pr.join(10)
    assert sum(wins) == 1
    assert not list(tmp_path.glob("*.stale"))


def test_held_waits_then_times_out_with_a_clear_error(tmp_path):
    p = tmp_path / "manifest.lock"
    claims.acquire(p, ttl=30)
    with pytest.raises(claims.LockTimeout, match="held by another writer"):
        with claims.held(p, ttl=30, timeout=0.3):
            pass


def test_held_takes_over_a_dead_holders_lock_and_deletes_only_its_temp_files(tmp_path):
    lock = tmp_path / "manifest.lock"
    lock.write_text(json.dumps({"host": "h", "pid": 1, "tag": "deadhost.1", "token": "t", "expires": time.time() - 1}))
    mine_other = tmp_path / ".dataset.json.otherhost.7.tmp"
    dead = tmp_path / ".dataset.json.deadhost.1.tmp"
    mine_other.write_text("x")
    dead.write_text("x")
    with claims.held(lock, ttl=30, on_takeover=lambda old: remove_tmp_files(tmp_path, old["tag"])):
        assert json.loads(lock.read_text())["tag"] == claims.owner_tag()
    assert not dead.exists() and mine_other.exists()
    assert not lock.exists()


def test_lease_time_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(claims.LEASE_ENV, "2.5")
    assert claims.lease_seconds() == 2.5
    monkeypatch.setenv(claims.LEASE_ENV, "soon")
    with pytest.raises(claims.LatentscapeError, match="LATENTSCAPE_LEASE_S='soon'"):
        claims.lease_seconds()
