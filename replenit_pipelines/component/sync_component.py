"""`ReplenitSyncComponent`: a Replenit tenant's sync, configured in a `defs.yaml` (docs/component.md).

    type: replenit_pipelines.ReplenitSyncComponent
    attributes:
      tenant: {id_env: BRAND_A_TENANT_ID, key_env: BRAND_A_API_KEY}
      warehouse: "{{ context.project_root }}/warehouse.duckdb"
      mapping: mapping.yaml
      deps: {customers: [analytics/dim_customers]}

One instance makes one tenant's definitions: a sync asset per entity (with its checks), the named
sync jobs and their schedules (or an automation condition that runs a sync after its upstream
assets), the warehouse tables it reads, `plan_backfill`, the reconciliation and replay jobs, the
quota view, and its three resources. Every field is checked as the definitions load (fields.py);
a field left out takes its REPLENIT_* variable's value (lib/settings.py, docs/configuration.md), so
this project's own instance (defs/replenit/defs.yaml) is configured as before. The secrets stay in
the environment: the YAML names the variables, and Dagster reads them when a run starts.

Subclass it the way dagster-dlt's translator is used: override `get_asset_spec` to change a sync
asset's spec (owners, tags, description, automation condition), and name the subclass as `type:`.
"""

import os
from pathlib import Path
from typing import Annotated, Any, cast

import dagster as dg
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, create_model

from replenit_pipelines.component import fields as f
from replenit_pipelines.component.jobs import build_sync_jobs, build_sync_schedules
from replenit_pipelines.component.near_real_time import build_near_real_time_job, build_near_real_time_sensor
from replenit_pipelines.component.plans import build_plan_backfill_job
from replenit_pipelines.component.quota import build_quota_asset
from replenit_pipelines.component.reconcile import reconcile_defs
from replenit_pipelines.component.replay import build_replay_job
from replenit_pipelines.component.resources import site_resources
from replenit_pipelines.component.site import (
    DEFAULT_FRESHNESS,
    DEFAULT_PREFIX,
    SYNC_ENTITIES,
    Automation,
    Backfills,
    Freshness,
    GateDefaults,
    Names,
    NearRealTime,
    Status,
    SyncSite,
    SyncStep,
)
from replenit_pipelines.component.sources import DEFAULT_OWNERS, warehouse_sources
from replenit_pipelines.component.sync_asset import build_sync_asset, default_sync_spec
from replenit_pipelines.lib.settings import DEFAULT_LIMITS, DEFAULT_SANDBOX_URL, Settings
from replenit_pipelines.lib.warehouse import EntityMapping, MappingError, load_mapping, mappings_from_dict

SCHEDULES_ENV = "REPLENIT_SCHEDULES"
TENANT_REQUIRED = ("tenant is required: tenant: {id_env: REPLENIT_TENANT_ID, key_env: REPLENIT_API_KEY} (the names of the "
                   "environment variables holding the tenant id and the API key)")


class ComponentConfigError(ValueError):
    """A field of the component that cannot work, with the fix (raised as the definitions load)."""


class ScaffoldParams(BaseModel):
    """`dg scaffold defs replenit_pipelines.ReplenitSyncComponent NAME --json-params '{...}'`."""

    warehouse: str | None = None
    entities: list[str] | None = None
    partitions_start: str | None = None


class ReplenitScaffolder(dg.Scaffolder[ScaffoldParams]):
    """Writes a defs.yaml of a few lines (the rest are defaults) and a mapping.yaml to fill in."""

    @classmethod
    def get_scaffold_params(cls) -> type[ScaffoldParams]:
        return ScaffoldParams

    def scaffold(self, request: dg.ScaffoldRequest[ScaffoldParams]) -> None:
        params = request.params or ScaffoldParams()
        folder = Path(request.target_path)
        folder.mkdir(parents=True, exist_ok=True)
        entities = params.entities or ["customers"]
        warehouse = params.warehouse or "{{ context.project_root }}/warehouse.duckdb"
        start = params.partitions_start or "2026-01-01"
        (folder / "defs.yaml").write_text(SCAFFOLD_YAML.format(
            type=request.type_name, warehouse=warehouse, entities=", ".join(entities), start=start))
        if not (folder / "mapping.yaml").exists():
            (folder / "mapping.yaml").write_text(SCAFFOLD_MAPPING)


SCAFFOLD_YAML = """type: {type}
attributes:
  tenant: {{id_env: REPLENIT_TENANT_ID, key_env: REPLENIT_API_KEY}}  # the env vars' NAMES, never an id or a key
  warehouse: "{warehouse}"
  mapping: mapping.yaml  # beside this file: your tables' columns -> Replenit's fields
  entities: [{entities}]
  partitions_start: "{start}"
  # deps: {{customers: [analytics/dim_customers]}}  # your asset each table comes from (lineage)
  # automation: after_upstream  # run each sync after its upstream assets (default: schedules)
"""

SCAFFOLD_MAPPING = """# Your warehouse's columns -> Replenit's fields (docs/configuration.md, "The mapping file").
# `replenit check --mapping mapping.yaml --warehouse <your DuckDB file>` checks it against the tables.
customers:
  source: {table: customers, window_column: updated_at}
  fields: {CustomerId: customer_id, Email: email, Name: first_name, Surname: last_name}
"""


def _doc(text: str, **kw: Any) -> Any:
    return dg.Resolver.default(description=text, **kw)


@dg.scaffold_with(ReplenitScaffolder)
class ReplenitSyncComponent(dg.Component, dg.Model, dg.Resolvable):
    """Keeps one Replenit tenant in step with a warehouse: customers, products and orders, validated,
    delivered within the key's quota and accounted for row by row (docs/component.md)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # an error never repeats a pasted value

    tenant: Annotated[f.Tenant | None, dg.Resolver(
        f.resolve_tenant, model_field_type=f.TenantBlock,
        description="The tenant: the NAMES of the environment variables holding its id and its API key (read when a run "
                    "starts, never written here), and the key's label (tenants on one key share its quota). Required.")] = None
    warehouse: Annotated[str | None, dg.Resolver(
        f.resolve_path("warehouse"), model_field_type=str,
        description="The DuckDB file the mapping's tables are in (relative to this folder; "
                    "'{{ context.project_root }}/...' for the project's). Default REPLENIT_WAREHOUSE.")] = None
    mapping: Annotated[str | dict[str, Any] | None, dg.Resolver(
        f.resolve_mapping, model_field_type=str | dict[str, Any],
        description="The mapping from your columns to Replenit's fields: a file (relative to this folder) or the mapping "
                    "itself, inline. A source may be a DuckDB table or query, files, or a Polars LazyFrame "
                    "(python: module:function). Default REPLENIT_MAPPING, else the demo mapping.")] = None
    entities: Annotated[tuple[str, ...] | None, dg.Resolver(
        f.resolve_entities, model_field_type=list[str],
        description="Which entities to sync: customers, products, orders. Default: every one the mapping has.")] = None
    deps: Annotated[dict[str, tuple[dg.AssetKey, ...]] | None, dg.Resolver(
        f.resolve_deps, model_field_type=dict[str, list[str]],
        description="Per entity or child array (OrderItems, ProductVariants): the asset keys its table comes from, e.g. "
                    "{customers: [analytics/dim_customers]}. Lineage runs from them to Replenit; without, the tables "
                    "are warehouse source assets.")] = None
    partitions_start: Annotated[str | None, dg.Resolver(
        f.resolve_partitions_start, model_field_type=str,
        description="The first day (UTC, YYYY-MM-DD) with partitions. Default REPLENIT_PARTITIONS_START, else 2026-01-01.")] = None
    automation: Annotated[str | None, dg.Resolver(
        f.resolve_automation, model_field_type=str,
        description="How syncs start: schedules (daily 00:15 UTC customers, hourly :05 products and orders; the default), "
                    "after_upstream (each sync's latest partition when an upstream asset updates: an AutomationCondition "
                    "and a sensor of its own), schedules_and_upstream, or manual.")] = None
    automation_status: Annotated[str | None, dg.Resolver(
        f.resolve_status, model_field_type=str,
        description="running or stopped: how the schedules and the automation sensor start. Default REPLENIT_SCHEDULES, "
                    "else stopped.")] = None
    key_prefix: Annotated[tuple[str, ...], dg.Resolver(
        f.resolve_key_prefix, model_field_type=str | list[str],
        description="The sync assets' key prefix (<prefix>/customers). Another prefix than replenit also names this "
                    "instance's jobs, schedules and resources (Sync_customers_daily_<prefix>) and its state folder.")] = DEFAULT_PREFIX
    group: Annotated[str | None, dg.Resolver(
        f.resolve_group, model_field_type=str,
        description="The sync assets' group. Default replenit (or the key prefix).")] = None
    owners: Annotated[tuple[str, ...] | None, dg.Resolver(
        f.resolve_owners, model_field_type=list[str],
        description="Owners in the catalog: emails or team:NAME. Default REPLENIT_ASSET_OWNERS, else team:data-engineering.")] = None
    freshness: Annotated[dict[str, Freshness | None] | None, dg.Resolver(
        f.resolve_freshness, model_field_type=dict[str, Any] | str,
        description="Freshness windows per entity, {customers: {fail_hours: 27, warn_hours: 25}}, or off. Default: "
                    "customers 27/25 h, products and orders 3/2 h.")] = None
    batch_sizes: Annotated[dict[str, int] | None, dg.Resolver(
        f.resolve_batch_sizes, model_field_type=dict[str, int],
        description="Records per request per entity, at most the API's maximum (customers 1000, orders 500, products 200). "
                    "The sync run config's default.")] = None
    lookback_hours: Annotated[dict[str, float] | None, dg.Resolver(
        f.resolve_lookback, model_field_type=dict[str, float],
        description="Hours read before each partition for late rows, per entity. Default: the mapping's, else customers "
                    "48, products 24, orders 6.")] = None
    gate: Annotated[GateDefaults | None, dg.Resolver(
        f.resolve_gate, model_field_type=dict[str, Any],
        description="The quarantine gate's defaults: {mode: baseline or fixed, max_quarantine_share, min_quarantined_rows, "
                    "ceiling_share, baseline_runs, baseline_factor, baseline_margin} (docs/operating.md).")] = None
    base_url: Annotated[str | None, dg.Resolver(
        f.resolve_base_url, model_field_type=str,
        description="The Ingestion API, e.g. https://api.replen.it. Default REPLENIT_BASE_URL, else the local sandbox.")] = None
    limits: Annotated[str | None, dg.Resolver(
        f.resolve_limits, model_field_type=str,
        description="The key's quota as REQUESTS/SECONDS windows. Default REPLENIT_LIMITS, else 100/60,5000/3600.")] = None
    customer_priority: Annotated[str | None, dg.Resolver(
        f.resolve_customer_priority, model_field_type=str,
        description="How the tenant matches customers: email or customerid. Default REPLENIT_CUSTOMER_PRIORITY, else email.")] = None
    state_dir: Annotated[str | None, dg.Resolver(
        f.resolve_path("state_dir"), model_field_type=str,
        description="The tenant's state folder (quarantine, run counts, ledgers). Default REPLENIT_STATE_DIR (./.replenit), "
                    "and for an instance with another key prefix its subfolder <prefix>. The key's quota ledger stays "
                    "in REPLENIT_STATE_DIR/quota, shared by every tenant on the key.")] = None
    state_url_env: Annotated[str | None, dg.Resolver(
        f.resolve_state_url_env, model_field_type=str,
        description="The environment variable holding this tenant's Postgres state URL. Default REPLENIT_STATE_URL.")] = None

    near_real_time: Annotated[NearRealTime | None, dg.Resolver(
        f.resolve_near_real_time, model_field_type=str | bool | dict[str, Any],
        description="Near-real-time orders (off by default): {interval_seconds: 60, status: running} (or on) adds a sensor "
                    "that looks at the current hour's orders every interval and, when they changed, launches a run that "
                    "sends the new and changed ones (and the day's customers first) in the quota's fresh lane; the "
                    "hourly partition then finds them unchanged. status: how the sensor starts (default: "
                    "automation_status).")] = None
    backfills: Annotated[Backfills | None, dg.Resolver(
        f.resolve_backfills, model_field_type=str | dict[str, Any],
        description="How a backfill of the sync assets runs: one_run_per_partition (the default) or single_run (the "
                    "whole range in one run: one read, one diff, full batches, the bulk lane; a materialization per "
                    "partition with its own counts), or {mode: single_run, max_partitions_per_run: 24}.")] = None

    @classmethod
    def get_model_cls(cls) -> type[BaseModel]:
        """The YAML's model: Dagster's (derived from the fields), made to take unknown fields and hide
        input values, so that `resolve_from_model` says what is wrong without repeating a value (a key
        pasted into a defs.yaml must not reach an error, a log or the UI)."""
        return _lenient_model(cls)

    @classmethod
    def resolve_from_model(cls, context: dg.ResolutionContext, model: BaseModel) -> "ReplenitSyncComponent":
        unknown = sorted(model.model_extra or {})
        if unknown:
            raise ComponentConfigError(
                f"{_where(context, unknown[0])}: attributes.{unknown[0]} is not a field of ReplenitSyncComponent"
                f"{_did_you_mean(unknown[0], cls.model_fields)}. Its fields: {', '.join(cls.model_fields)} (docs/component.md)")
        problem = f.tenant_problem(getattr(model, "tenant", None)) if getattr(model, "tenant", None) is not None else (
            "", TENANT_REQUIRED)
        if problem:
            raise ComponentConfigError(f"{_where(context, 'tenant', problem[0])}: attributes.{problem[1]}")
        # Also read here, not in a Resolver: Dagster prints a Resolver's error with the YAML line, a pasted URL's password in it.
        url_env = getattr(model, "state_url_env", None)
        url_problem = f.env_name_problem("state_url_env", url_env, "BRAND_B_STATE_URL") if url_env is not None else None
        if url_problem:
            raise ComponentConfigError(f"{_where(context, 'state_url_env')}: attributes.{url_problem}")
        return super().resolve_from_model(context, model)

    _site: SyncSite | None = PrivateAttr(default=None)
    _keys: dict[str, dg.AssetKey] = PrivateAttr(default_factory=dict)

    # --- hooks for subclasses ------------------------------------------------------------------------

    def get_asset_spec(self, step: SyncStep) -> dg.AssetSpec:
        """The spec of the sync asset `step` (step.name: customers, customers_intraday, products or
        orders; step.entity). Override to change it (`spec.replace_attributes(...)`); keep its
        partitions."""
        assert self._site is not None, "get_asset_spec is called while build_defs runs"
        return default_sync_spec(self._site, step, self._keys)

    # --- build ------------------------------------------------------------------------------------------

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        site = self.resolve_site(Path(context.path))
        self._site, self._keys = site, {}
        assets: list[Any] = []
        for step in site.steps:
            spec = self.get_asset_spec(step)
            self._keys[step.name] = spec.key
            assets.append(build_sync_asset(site, step, spec))
        keys = dict(self._keys)
        assets.append(build_quota_asset(site))
        jobs: list[Any] = build_sync_jobs(site, keys)
        schedules = build_sync_schedules(site, jobs) if site.schedules_on else []
        sensors: list[dg.SensorDefinition] = []
        if site.upstream_on:
            sensors.append(dg.AutomationConditionSensorDefinition(
                name=site.names.name("replenit_after_upstream"), target=dg.AssetSelection.assets(*keys.values()),
                default_status=site.sensor_status,
                description="Runs each sync's latest partition after its upstream assets update (automation: "
                            f"after_upstream). {site.status_text}"))
        for step in site.near_real_time_steps:
            spec = self.get_asset_spec(step)
            self._keys[step.name] = spec.key
            assets.append(build_sync_asset(site, step, spec))
        if site.near_real_time_steps:
            nrt_job = build_near_real_time_job(site, self._keys)
            jobs.append(nrt_job)
            sensors.append(build_near_real_time_sensor(site, nrt_job))
        jobs += [build_plan_backfill_job(site, keys), build_replay_job(site, keys)]
        return dg.Definitions.merge(
            dg.Definitions(assets=assets, jobs=jobs, schedules=schedules, sensors=sensors, resources=site_resources(site)),
            warehouse_sources(site),
            reconcile_defs(site, keys),
        )

    def resolve_site(self, folder: Path) -> SyncSite:
        """This instance with every default filled in, checked across fields (one field's own check is in fields.py)."""
        env = Settings.from_env()
        defs_yaml = folder / "defs.yaml"
        names = Names(tuple(self.key_prefix))

        def fail(field: str, message: str) -> ComponentConfigError:
            return ComponentConfigError(f"{defs_yaml}: attributes.{field}: {message}")

        def here(path: str) -> str:
            p = Path(path).expanduser()
            return str(p if p.is_absolute() else (folder / p).resolve())

        mapping_yaml: str | None = None
        try:
            if isinstance(self.mapping, dict):
                mapping_path = str(defs_yaml)
                mappings = mappings_from_dict(self.mapping, mapping_path)
                mapping_yaml = yaml.safe_dump(self.mapping, sort_keys=False)
            else:
                mapping_path = here(self.mapping) if self.mapping else str(env.mapping_path)
                mappings = load_mapping(mapping_path)
        except MappingError as exc:
            raise fail("mapping", str(exc)) from None
        entities = self.entities or tuple(e for e in SYNC_ENTITIES if e in mappings)
        missing = [e for e in entities if e not in mappings]
        if missing:
            raise fail("entities", f"{missing[0]} has no section in the mapping {mapping_path}: add one, or leave "
                                   f"{missing[0]} out of entities")
        if not entities:
            raise fail("mapping", f"{mapping_path} maps none of {', '.join(SYNC_ENTITIES)}")
        deps = self.deps or {}
        self._check_deps(deps, entities, {e: mappings[e] for e in entities}, fail)
        tenant = self.tenant
        if tenant is None:  # `attributes:` empty or left out: Dagster builds the component without resolving
            raise ComponentConfigError(f"{defs_yaml}: attributes.{TENANT_REQUIRED}")
        key_label = tenant.key_label or (env.key_label if tenant.key_env == "REPLENIT_API_KEY" else tenant.key_env.lower())
        state_dir = here(self.state_dir) if self.state_dir else str(env.state_dir if names.default else env.state_dir / names.ident)
        return SyncSite(
            names=names, entities=entities, mappings={e: mappings[e] for e in entities}, mapping_path=mapping_path,
            mapping_yaml=mapping_yaml, warehouse_path=here(self.warehouse) if self.warehouse else env.warehouse_path,
            state_dir=state_dir, quota_dir=str(env.quota_dir), state_url_env=self.state_url_env,
            tenant_id_env=tenant.id_env, key_env=tenant.key_env, key_label=key_label,
            base_url=self.base_url or _env_or("REPLENIT_BASE_URL", DEFAULT_SANDBOX_URL),
            limits=self.limits or _env_or("REPLENIT_LIMITS", DEFAULT_LIMITS),
            customer_priority=self.customer_priority or env.customer_priority_text.strip().lower(),  # checked at run start
            partitions_start=self.partitions_start or env.partitions_start,
            group=self.group or names.default_group,
            owners=self.owners or _env_owners(),
            automation=cast(Automation, self.automation or "schedules"),
            status=cast(Status, self.automation_status or _env_status()),
            deps=deps, freshness=self.freshness or dict(DEFAULT_FRESHNESS), batch_sizes=dict(self.batch_sizes or {}),
            lookback_hours=dict(self.lookback_hours or {}), gate=self.gate or GateDefaults(),
            retry_max_attempts=env.retry_max_attempts,
            state_namespace=SyncSite.state_namespace_for(names, bool(self.state_dir), self.state_url_env),
            near_real_time=self.near_real_time, backfills=self.backfills or Backfills(),
        )

    @staticmethod
    def _check_deps(deps: dict[str, tuple[dg.AssetKey, ...]], entities: tuple[str, ...], mappings: dict[str, EntityMapping],
                    fail: Any) -> None:
        for name in deps:
            entity = f.CHILD_ARRAYS.get(name, name)
            if entity not in entities:
                raise fail("deps", f"{name} is for {entity}, which this component does not sync (entities: "
                                   f"{', '.join(entities)}): remove it or add {entity} to entities")
            if name in f.CHILD_ARRAYS and mappings[entity].child_source is None:
                raise fail("deps", f"{name} are read from {entity}'s own source (the mapping gives them no source of "
                                   f"their own): list their asset under deps.{entity}")


_LENIENT: dict[type, type[BaseModel]] = {}


def _lenient_model(cls: type[dg.Resolvable]) -> type[BaseModel]:
    """Dagster's derived model with every field taking any value (each field's Resolver checks it and
    says what to write; pydantic's type errors would print the input), unknown fields kept for
    resolve_from_model to name, and input values hidden."""
    if cls not in _LENIENT:
        derived = cls.model()
        fields: dict[str, Any] = {
            name: (Any, Field(default=None if info.is_required() else info.default, description=info.description))
            for name, info in derived.model_fields.items()}
        lenient = create_model(derived.__name__, __base__=derived, **fields)
        lenient.model_config["extra"] = "allow"
        lenient.model_config["hide_input_in_errors"] = True
        lenient.model_rebuild(force=True)
        _LENIENT[cls] = lenient
    return _LENIENT[cls]


def _where(context: dg.ResolutionContext, *path: str) -> str:
    """`defs.yaml:LINE` of a key in the YAML being read (its closest written parent)."""
    tree = context.source_position_tree
    if tree is None:
        return "defs.yaml"
    position, _ = tree.lookup_closest_and_path([*context.path, *[p for p in path if p]], None)
    return str(position)


def _did_you_mean(name: str, candidates: Any) -> str:
    from difflib import get_close_matches

    close = get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _env_or(name: str, default: str) -> str | dg.EnvVar:
    """The variable as an EnvVar (read at run launch) when it is set now, else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def _env_owners() -> tuple[str, ...]:
    raw = os.environ.get("REPLENIT_ASSET_OWNERS", "")
    return tuple(o.strip() for o in raw.split(",") if o.strip()) or DEFAULT_OWNERS


def _env_status() -> str:
    """REPLENIT_SCHEDULES: running, or stopped (the default)."""
    choice = (os.environ.get(SCHEDULES_ENV) or "stopped").strip().lower()
    if choice not in ("running", "stopped"):
        raise ValueError(f"{SCHEDULES_ENV}={choice!r}: expected running or stopped (the default)")
    return choice
