"""Python sources (`source: {python: module:function}`): a function's Polars LazyFrame."""

from pathlib import Path

import polars as pl

from replenit_pipelines.lib.warehouse.mapping import (
    MappingError,
    SourceSpec,
    did_you_mean_quoted,
)


def load_python_source(spec: SourceSpec, origin: str) -> pl.LazyFrame:
    """Call `module:function` (no arguments) for its LazyFrame; the module is imported from the
    Python path, else from the mapping file's folder. A DataFrame is accepted as its lazy view."""
    import importlib
    import sys

    assert spec.python is not None
    module_name, func_name = spec.python.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        folder = str(Path(origin).parent) if origin != "<python>" else None
        if folder is None or exc.name != module_name.split(".")[0]:
            raise MappingError(f"{origin}: source python {spec.python}: cannot import {module_name}: {exc}; put the "
                               "module on PYTHONPATH or beside the mapping file") from None
        sys.path.insert(0, folder)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as inner:
            raise MappingError(f"{origin}: source python {spec.python}: cannot import {module_name}: {inner}; put the "
                               "module on PYTHONPATH or beside the mapping file") from None
        finally:
            sys.path.remove(folder)
    func = getattr(module, func_name, None)
    if not callable(func):
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise MappingError(f"{origin}: source python {spec.python}: {module_name} has no function {func_name!r}"
                           f"{did_you_mean_quoted(func_name, names)}")
    frame = func()
    if isinstance(frame, pl.DataFrame):
        return frame.lazy()
    if not isinstance(frame, pl.LazyFrame):
        raise MappingError(f"{origin}: source python {spec.python} returned {type(frame).__name__}, not a Polars LazyFrame")
    return frame
