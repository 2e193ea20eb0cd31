"""The warehouse tables the syncs read, as assets Dagster observes but does not build, with what a
catalog needs at definition time: owners, `dagster/table_name`, and a column schema (the mapping's
source columns, typed from the warehouse when it can be read, as SQL type names).

Observed: each table or file source is an observable source asset; its observation records the
row count and the newest update time (the window column's largest value), so a stale source
shows on its page (and as "last observed" on the graph, not "Never materialized") before a sync
reads it. The job `observe_warehouse_tables` observes them all; its schedule runs it hourly at :02,
before the hourly sync. A query or a Python source is not observed (it would have to run).

Upstream assets: where the component names the user's own asset a table comes from (its `deps`,
per entity and child array: `customers: [analytics/dim_customers]`), the sync depends on that asset
and no source asset is made for the table: lineage runs from the user's model to Replenit.

Names: a source is `warehouse/<table>_table` (under the instance's prefix for an instance other
than the default, site.py), `warehouse/<file>_files`, `warehouse/<entity>_query`
or `warehouse/<function>_frames`, so the graph (which shows a key's last part) never shows two
nodes named `orders`.
"""

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from replenit_pipelines.component.failures import failure
from replenit_pipelines.component.resources import instance_resources, required_keys
from replenit_pipelines.component.site import SyncSite
from replenit_pipelines.lib.sql_types import sql_type
from replenit_pipelines.lib.stages.report import column_lineage
from replenit_pipelines.lib.warehouse import EntityMapping, SourceSpec, Warehouse
from replenit_pipelines.lib.warehouse.observe import observable, observe_source

# Who answers for these assets in the catalog when the component names no owners (REPLENIT_ASSET_OWNERS).
DEFAULT_OWNERS = ("team:data-engineering",)


def source_name(src: SourceSpec, fallback: str) -> str:
    """The source asset's name, in the characters Dagster takes (letters, digits, `_` and `-`): a
    table `Order Details` is `Order_Details_table` (a space failed the code location's load)."""
    if src.python:
        name = f"{src.python.rsplit(':', 1)[-1]}_frames"
    elif src.table:
        name = f"{src.table.rsplit('.', 1)[-1]}_table"
    elif src.path:
        name = f"{src.path.rsplit('/', 1)[-1].split('.')[0].replace('*', 'all')}_files"
    else:
        name = f"{fallback}_query"
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


@dataclass(frozen=True)
class SourceTable:
    """One table (or file, query, Python source) a sync reads: the entity's own or its children's,
    and the asset keys it comes from: the user's upstream assets, else one warehouse source asset."""

    entity: str
    src: SourceSpec
    child: str | None  # OrderItems / ProductVariants for a child source of its own
    keys: tuple[dg.AssetKey, ...]
    upstream: bool  # the keys are the user's assets (deps), not a source asset of ours


def source_tables(site: SyncSite, mapping: EntityMapping) -> list[SourceTable]:
    spec = mapping.spec
    child = spec.children_field.name if spec.children_field is not None else None
    out = []
    for src, child_name, fallback in ((mapping.source, None, mapping.entity),
                                      (mapping.child_source, child, f"{mapping.entity}_children")):
        if src is None:
            continue
        deps = site.deps.get(child_name or mapping.entity, ())
        keys = deps or (site.names.source_key(source_name(src, fallback)),)
        out.append(SourceTable(mapping.entity, src, child_name, tuple(keys), bool(deps)))
    return out


def source_asset_keys(site: SyncSite, mapping: EntityMapping) -> list[dg.AssetKey]:
    """The assets an entity's sync reads: the user's upstream assets, else warehouse source assets."""
    return [k for t in source_tables(site, mapping) for k in t.keys]


def lineage_key(site: SyncSite, mapping: EntityMapping) -> dg.AssetKey:
    """The asset the entity's columns are read from, for column lineage: its own table's first key."""
    return source_tables(site, mapping)[0].keys[0]


def mapping_version(mapping: EntityMapping) -> str:
    """A code version that changes when the entity's mapping does (its fields, source, window)."""
    return hashlib.sha256(repr(mapping).encode()).hexdigest()[:12]


def table_name(mapping: EntityMapping, warehouse_path: str) -> str:
    """`dagster/table_name`: database.schema.table for a DuckDB table, else the files or query read."""
    if mapping.source.table:
        table = mapping.source.table if "." in mapping.source.table else f"main.{mapping.source.table}"
        return f"{Path(warehouse_path).stem}.{table}"
    return mapping.source.path or f"query:{mapping.entity}"


def source_schema(mapping: EntityMapping, warehouse_path: str, con: Any = None) -> dg.TableSchema:
    """The source columns the mapping reads, with the API fields each feeds; typed from the
    warehouse when it exists and can be read now (a missing file leaves the types unknown).
    `con`: an open DuckDB connection to the warehouse, shared by the definitions' tables."""
    feeds: dict[str, list[str]] = {mapping.source.window_column: []} if mapping.source.window_column else {}
    for target, columns in column_lineage(mapping).items():
        for c in columns:
            feeds.setdefault(c, []).append(target)
    types: dict[str, str] = {}
    if Path(warehouse_path).exists() or mapping.source.path:
        try:
            wh = Warehouse(warehouse_path)
            read = dict(wh.schema(con, mapping)) if con is not None and mapping.source.table else wh.columns(mapping)
            types = {name: sql_type(dtype) for name, dtype in read.items()}
        except Exception:  # any error: definitions must load without a readable warehouse
            types = {}
    return dg.TableSchema(columns=[
        dg.TableColumn(name, types.get(name, "unknown"), description="; ".join(
            [*(["the window column"] if name == mapping.source.window_column else []),
             *([f"feeds {', '.join(sorted(targets))}"] if targets else [])]))
        for name, targets in feeds.items()
    ])


def observe_fn(site: SyncSite, key: dg.AssetKey, src: SourceSpec) -> Callable[..., Iterator[dg.ObserveResult]]:
    def observe(context: dg.AssetExecutionContext) -> Iterator[dg.ObserveResult]:
        _, warehouse, _ = instance_resources(context, site)
        try:
            seen = observe_source(warehouse.warehouse(), src)
        except Exception as exc:  # any error: a missing file or table: said in words, nothing else to do
            raise failure(f"{key.to_user_string()}: cannot observe {src.describe()} in {warehouse.database}: {exc}",
                          "source_unreadable") from None
        newest = seen.newest_update.isoformat() if seen.newest_update else "unknown"
        context.log.info(f"{key.to_user_string()}: {seen.rows:,} rows, newest update {newest}")
        yield dg.ObserveResult(asset_key=key, data_version=dg.DataVersion(f"{seen.rows}:{newest}"), metadata={
            "dagster/row_count": seen.rows,
            **({"newest_update": dg.MetadataValue.timestamp(seen.newest_update)} if seen.newest_update else {}),
        })

    return observe


OBSERVE_JOB = "observe_warehouse_tables"


def warehouse_sources(site: SyncSite) -> dg.Definitions:
    """The source assets of the tables no upstream asset is named for; the tables of the DuckDB file
    and files observed, with a job and an hourly schedule that observe them."""
    specs: dict[dg.AssetKey, tuple[dg.AssetSpec, SourceSpec]] = {}
    with ExitStack() as opened:
        con = _warehouse_connection(site.warehouse_path, opened)
        for entity, mapping in site.mappings.items():
            _source_specs(site, entity, mapping, con, specs)
    return _observed(site, specs)


def _warehouse_connection(path: str, opened: ExitStack) -> Any:
    """One read-only connection for every table's schema (a connection each cost ~10 ms, x5 a load)."""
    if not path or not Path(path).is_file():
        return None
    try:
        return opened.enter_context(duckdb.connect(path, read_only=True))
    except Exception:  # noqa: BLE001 - any error: the tables' types are read one by one (or left unknown)
        return None


def _source_specs(site: SyncSite, entity: str, mapping: EntityMapping, con: Any,
                  specs: dict[dg.AssetKey, tuple[dg.AssetSpec, SourceSpec]]) -> None:
    """The source asset specs of one entity's tables (those no upstream asset is named for)."""
    for table in source_tables(site, mapping):
        if table.upstream:
            continue
        key, src = table.keys[0], table.src
        window = f"windowed by {src.window_column}" if src.window_column else "read with their parent"
        view = replace(mapping, source=src, fields=mapping.fields if table.child is None else mapping.children,
                       children=(), child_source=None, parent_key=None)
        observed = (f"Observed hourly ({site.names.name(OBSERVE_JOB)}): row count and newest update." if observable(src)
                    else "Not observed (a query or a Python source would have to run).")
        specs[key] = (dg.AssetSpec(
            key, kinds={"polars"} if src.python else {"duckdb"} if not src.path else {"parquet"},
            group_name=site.names.source_group,
            description=f"The warehouse {src.describe()}: rows behind Replenit {entity}, {window}. {observed}",
            owners=list(site.owners),
            metadata={"window_column": src.window_column or "",
                      "dagster/table_name": table_name(view, site.warehouse_path),
                      "dagster/column_schema": source_schema(view, site.warehouse_path, con)},
        ), src)


def _observed(site: SyncSite, specs: dict[dg.AssetKey, tuple[dg.AssetSpec, SourceSpec]]) -> dg.Definitions:
    """The observable source assets, their job and its hourly schedule."""
    assets: list[dg.AssetSpec | dg.AssetsDefinition] = []
    observed_keys = []
    for key, (spec, src) in specs.items():
        if observable(src):
            assets.append(dg.multi_observable_source_asset(
                specs=[spec], name=f"observe_{key.to_python_identifier()}",
                required_resource_keys=required_keys(site, "warehouse"))(observe_fn(site, key, src)))
            observed_keys.append(key)
        else:
            assets.append(spec)
    jobs, schedules = [], []
    if observed_keys:
        job = dg.define_asset_job(site.names.name(OBSERVE_JOB), selection=dg.AssetSelection.assets(*observed_keys),
                                  description="Observe every warehouse table the syncs read: its row count and newest "
                                              "update time. Reads no row; sends nothing.")
        jobs.append(job)
        if site.schedules_on:
            schedules.append(dg.ScheduleDefinition(
                name=site.names.name(f"{OBSERVE_JOB}_hourly"), job=job, cron_schedule="2 * * * *", execution_timezone="UTC",
                default_status=site.default_status,
                description="Every hour at :02 UTC, before the hourly sync: observe the warehouse tables (row count, newest "
                            f"update). {site.status_text}"))
    return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules)
