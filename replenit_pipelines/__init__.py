"""replenit-pipelines: keeps a Replenit tenant in step with a data warehouse (README.md).

`replenit_pipelines.ReplenitSyncComponent` is the Dagster component (docs/component.md). It is
imported on first use, so the `replenit` commands and lib/ never load Dagster for it."""

from typing import Any

__all__ = ["ReplenitSyncComponent"]


def __getattr__(name: str) -> Any:
    if name == "ReplenitSyncComponent":
        from replenit_pipelines.component import ReplenitSyncComponent

        return ReplenitSyncComponent
    raise AttributeError(f"module 'replenit_pipelines' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "ReplenitSyncComponent"])
