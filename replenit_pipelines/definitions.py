"""The replenit_pipelines code location: everything under defs/, loaded as Dagster finds it."""

import os
from pathlib import Path

import dagster as dg

DEFS_FOLDER = Path(__file__).parent / "defs"
# The loaded definitions of this process, by what they were loaded from: Dagster calls `defs()`
# each time it reconstructs the code location (six times in one `dagster asset materialize`), and
# each load reads the defs folder, the mapping and the warehouse's schema again (issue 28 item 4).
_LOADED: dict[tuple[object, ...], dg.Definitions] = {}


def _inputs() -> tuple[object, ...]:
    """What a load reads: the environment, the working folder, and the files of the defs folder and
    those the environment names (the mapping, the warehouse), by modification time and size."""
    # Not the variables a library sets for itself on import (jemalloc's _RJEM_MALLOC_CONF by Polars).
    env = tuple(sorted((k, v) for k, v in os.environ.items() if not k.startswith("_")))
    files = sorted(p for p in DEFS_FOLDER.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    files += sorted(Path(v) for k, v in env if k.startswith("REPLENIT_") and v and len(v) < 4096 and os.path.isfile(v))
    stats: list[tuple[str, int | None, int | None]] = []
    for path in files:
        try:
            st = path.stat()
            stats.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            stats.append((str(path), None, None))
    return env, os.getcwd(), tuple(stats)


@dg.definitions
def defs() -> dg.Definitions:
    key = _inputs()
    if key not in _LOADED:
        _LOADED.clear()  # one set of definitions at a time: a changed input loads afresh
        _LOADED[key] = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    return _LOADED[key]
