"""A reconciliation's scratch folder (its table split into chunk files: about 30 bytes a row, GBs
for a large table), owned by the run that made it and swept by the next one when that run died.

Each folder `replenit-reconcile-<hex>` has a lock file beside it, `replenit-reconcile-<hex>.lock`,
on which the owning process holds an exclusive `flock` while it lives. The kernel drops the lock
when the process ends however it ends (SIGKILL, a lost container), so a lock another process can
take is proof that the owner is gone: its folder is removed. A live run's lock cannot be taken,
so runs beside each other (two entities, two tenants) never remove each other's files. The lock
file is locked under a private name first and then renamed into place, so a sweeper never sees a
lock file that nobody holds yet.
"""

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

PREFIX = "replenit-reconcile-"
LOCK_SUFFIX = ".lock"


def sweep_stale(parent: Path) -> list[Path]:
    """Remove the scratch folders under `parent` whose owning run is gone; returns them."""
    removed = []
    # A lock file a run created but was killed before renaming (a window of two system calls): an
    # empty file, removed once it is an hour old (a younger one may be a starting run's).
    for private in parent.glob(f".{PREFIX}*{LOCK_SUFFIX}"):
        with contextlib.suppress(OSError):
            if time.time() - private.stat().st_mtime > 3600:
                private.unlink()
    for lock_path in sorted(parent.glob(f"{PREFIX}*{LOCK_SUFFIX}")):
        folder = lock_path.with_name(lock_path.name[: -len(LOCK_SUFFIX)])
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except OSError:  # removed meanwhile by another sweeper
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # held: its run is alive
                continue
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                lock_path.unlink()
            removed.append(folder)
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def run_scratch(parent: Path) -> Iterator[Path]:
    """A fresh folder under `parent` owned by this run (not created: the caller's code makes it),
    after the stale folders of dead runs there are swept; removed with its lock at exit."""
    parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(parent)
    name = f"{PREFIX}{uuid.uuid4().hex}"
    folder, lock_path = parent / name, parent / f"{name}{LOCK_SUFFIX}"
    private = parent / f".{name}{LOCK_SUFFIX}"
    fd = os.open(private, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(private, lock_path)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                lock_path.unlink()
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            private.unlink()
