"""The spool file's lock: a new run's file is never seen unlocked by a recovery scan."""

from __future__ import annotations

import fcntl

import pytest

from autoscope.catalog import spool


def test_a_new_spool_file_appears_locked(tmp_path, monkeypatch):
    """A writer's orphan scan probes every spool file's lock (is_orphan). If a new
    run's file showed under its name before its owner locked it, the probe could
    take it for a dead writer's file, or make the owner's own lock fail (EAGAIN,
    which aborted a run on a fresh clone's make test)."""
    path = tmp_path / "spool" / f"run-1{spool.SUFFIX}"
    seen_unlocked = []
    real_flock = fcntl.flock
    probing = []

    def flock(fd, op):
        if not probing and path.exists():
            probing.append(1)
            try:
                seen_unlocked.append(spool.is_orphan(path))
            finally:
                probing.pop()
        return real_flock(fd, op)

    monkeypatch.setattr(spool.fcntl, "flock", flock)
    held = spool.SpoolFile(path)
    try:
        assert True not in seen_unlocked
        monkeypatch.setattr(spool.fcntl, "flock", real_flock)
        assert not spool.is_orphan(path)
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # no private name left
        held.append("start", {"uid": "run-1"})
    finally:
        held.close()
    assert spool.is_orphan(path)


def test_an_existing_spool_file_is_taken_over_only_when_free(tmp_path):
    path = tmp_path / f"run-2{spool.SUFFIX}"
    first = spool.SpoolFile(path)
    first.append("start", {"uid": "run-2"})
    with pytest.raises(BlockingIOError):
        spool.SpoolFile(path)  # its writer still holds it
    first.close()
    second = spool.SpoolFile(path)  # the writer is gone: append to the same file
    second.append("stop", {"run_start": "run-2"})
    second.close()
    names = [name for name, _ in spool.iter_records(spool.read(path))]
    assert names == ["start", "stop"]
