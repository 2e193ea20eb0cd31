"""A reconciliation's scratch folder (lib/sync/scratch.py): removed at exit, and a dead run's swept
by the next run, never a live run's. The owners are real processes (one killed with SIGKILL), since
what tells a dead owner from a live one is the kernel dropping a dead process's flock."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from replenit_pipelines.lib.sync import scratch
from replenit_pipelines.lib.sync.scratch import run_scratch, sweep_stale

# A process that takes a scratch folder, writes a chunk file into it, says so, then waits.
# The module is loaded by its path: the package's imports (Polars, DuckDB) would cost seconds a process.
OWNER = textwrap.dedent("""
    import importlib.util, sys, time
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("scratch", sys.argv[2])
    scratch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scratch)
    with scratch.run_scratch(Path(sys.argv[1])) as folder:
        (folder / "chunks").mkdir(parents=True)
        (folder / "chunks" / "part-0.parquet").write_bytes(b"x" * 1000)
        print(folder, flush=True)
        time.sleep(60)
""")


def start_owner(parent: Path) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, "-c", OWNER, str(parent), scratch.__file__], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    folder = Path(proc.stdout.readline().strip())
    assert folder.is_dir(), proc.poll()
    return proc, folder


def test_the_folder_and_its_lock_are_removed_at_exit_even_on_an_error(tmp_path):
    with pytest.raises(RuntimeError), run_scratch(tmp_path) as folder:
        folder.mkdir()
        (folder / "chunk").write_text("rows")
        assert {p.name for p in tmp_path.iterdir()} == {folder.name, folder.name + ".lock"}
        raise RuntimeError("a chunk failed")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_runs_folder_is_swept_by_the_next_run_and_a_live_runs_is_kept(tmp_path):
    killed, dead_folder = start_owner(tmp_path)
    live, live_folder = start_owner(tmp_path)
    try:
        assert sweep_stale(tmp_path) == []  # both owners alive: nothing is theirs to take
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
        assert dead_folder.is_dir()  # a SIGKILL runs no cleanup
        with run_scratch(tmp_path) as mine:
            assert not dead_folder.exists() and not Path(f"{dead_folder}.lock").exists()
            assert (live_folder / "chunks" / "part-0.parquet").exists()
            mine.mkdir()
        assert {p.name for p in tmp_path.iterdir()} == {live_folder.name, live_folder.name + ".lock"}
    finally:
        live.kill()
        live.wait(timeout=10)
    assert sweep_stale(tmp_path) == [live_folder]
    assert list(tmp_path.iterdir()) == []


def test_a_private_lock_file_gone_before_the_sweeper_looks_is_skipped_and_the_sweep_goes_on(tmp_path):
    # A starting run renames its private lock file into place between the sweeper's listing and its
    # look at the file's age: listed, then not there. A dangling link is such a name, for good.
    (tmp_path / f".{scratch.PREFIX}0starting{scratch.LOCK_SUFFIX}").symlink_to(tmp_path / "renamed meanwhile")
    dead = tmp_path / f"{scratch.PREFIX}0dead"
    (dead / "chunks").mkdir(parents=True)
    Path(f"{dead}{scratch.LOCK_SUFFIX}").touch()  # nobody holds its lock: its run is gone
    assert sweep_stale(tmp_path) == [dead]
    assert not dead.exists()


def test_a_run_killed_before_it_made_its_folder_leaves_a_lock_alone_and_the_sweep_removes_it(tmp_path):
    # run_scratch takes the lock first; the folder is the caller's to make (with its first chunk file).
    gone = tmp_path / f"{scratch.PREFIX}0nofolder"
    Path(f"{gone}{scratch.LOCK_SUFFIX}").touch()  # nobody holds it: its run is gone
    with run_scratch(tmp_path) as mine:
        assert {p.name for p in tmp_path.iterdir()} == {mine.name + scratch.LOCK_SUFFIX}
    assert list(tmp_path.iterdir()) == []


def test_a_private_lock_file_is_removed_once_it_is_an_hour_old_and_a_younger_one_is_kept(tmp_path):
    # A run killed between creating its private lock file and renaming it into place leaves it
    # behind; one younger than an hour may be a starting run's.
    old = tmp_path / f".{scratch.PREFIX}0old{scratch.LOCK_SUFFIX}"
    young = tmp_path / f".{scratch.PREFIX}0young{scratch.LOCK_SUFFIX}"
    for path, age_s in ((old, 3600.5), (young, 3599.5)):
        path.touch()
        os.utime(path, (time.time() - age_s,) * 2)
    assert sweep_stale(tmp_path) == []  # no run's folder: the private files are no runs yet
    assert [p.name for p in tmp_path.iterdir()] == [young.name]
