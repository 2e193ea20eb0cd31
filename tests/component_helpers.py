"""Helpers for the component tests: a Dagster project's defs folder (Dagster's own test sandbox)
with defs.yaml files written as a user writes them, loaded the way `dg` loads them; and a subclass
of the component as a user's project would write one."""

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster.components.testing import create_defs_folder_sandbox

from replenit_pipelines import ReplenitSyncComponent
from replenit_pipelines.component.site import SyncStep

TYPE_LINE = "type: replenit_pipelines.ReplenitSyncComponent\n"


@contextmanager
def defs_folder(**instances: str) -> Iterator[tuple[Path, "Loader"]]:
    """`defs_folder(tenant_a="attributes:\\n  tenant: ...")`: one folder per instance, its defs.yaml
    the type line then the text given; yields the defs folder and a loader of all of it."""
    with create_defs_folder_sandbox() as sandbox:
        for name, text in instances.items():
            write_defs_yaml(sandbox.defs_folder_path / name, text)
        yield sandbox.defs_folder_path, Loader(sandbox)


def write_defs_yaml(folder: Path, text: str, type_line: str = TYPE_LINE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "defs.yaml"
    path.write_text(type_line + textwrap.dedent(text).lstrip("\n"))
    return path


class Loader:
    def __init__(self, sandbox: object):
        self.sandbox = sandbox

    @contextmanager
    def load(self) -> Iterator[dg.Definitions]:
        with self.sandbox.build_all_defs() as defs:  # type: ignore[attr-defined]
            yield defs


def error_text(exc: BaseException | None) -> str:
    """An error and everything it was raised from or during, as Dagster prints the chain."""
    parts = []
    while exc is not None:
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


class OwnedSync(ReplenitSyncComponent):
    """A user's subclass (the translator pattern): its sync assets carry the CRM team as owner and a
    brand tag."""

    def get_asset_spec(self, step: SyncStep) -> dg.AssetSpec:
        spec = super().get_asset_spec(step)
        return spec.replace_attributes(owners=["team:crm"], tags={**spec.tags, "brand": "b"})
