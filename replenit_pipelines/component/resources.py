"""The three resources of one component instance: the API (tenant and key), the warehouse with its
mapping, and the state store with the ledgers. Registered under the instance's own keys
(site.py `Names`): two instances never share one."""

import dataclasses
import os
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from pydantic import Field, PrivateAttr

from replenit_pipelines.component.site import SyncSite
from replenit_pipelines.lib.contract.api import parse_limits
from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY, check_customer_priority
from replenit_pipelines.lib.delivery import ApiKey, ClientConfig, ReplenitClient
from replenit_pipelines.lib.delivery.quota import Lane
from replenit_pipelines.lib.ledger import Ledger, open_ledger
from replenit_pipelines.lib.settings import DEFAULT_LIMITS, DEFAULT_SANDBOX_URL, Settings
from replenit_pipelines.lib.sync import StateStore, open_state_store
from replenit_pipelines.lib.warehouse import EntityMapping, Warehouse, load_mapping, mappings_from_dict


class ReplenitResource(dg.ConfigurableResource):
    """The Replenit Ingestion API for one tenant and key. The key comes from an EnvVar and is
    read only when a run starts; it never appears in this resource's repr."""

    base_url: str = Field(default=DEFAULT_SANDBOX_URL,
                          description="The Ingestion API's address (REPLENIT_BASE_URL); the local sandbox by default.")
    tenant_id: str = Field(description="Your Replenit tenant's id, a GUID (REPLENIT_TENANT_ID).")
    api_key: str = Field(description="The API key (REPLENIT_API_KEY), read at run launch; never shown.")
    limits: str = Field(default=DEFAULT_LIMITS,
                        description="The key's quota as REQUESTS/SECONDS windows, e.g. 100/60,5000/3600 (REPLENIT_LIMITS).")
    max_in_flight: int = Field(default=4, description="Requests in flight at once for this run.")
    read_timeout_s: float = Field(default=60.0, description="Seconds to wait for a response before retrying.")
    max_attempts: int = Field(default=5, description="Attempts per request (5xx, 429, timeouts) before its records fail.")
    customer_priority: str = Field(default=DEFAULT_CUSTOMER_PRIORITY,
                                   description="How the tenant matches customers: email or customerid "
                                               "(REPLENIT_CUSTOMER_PRIORITY); prepare supersedes by it.")
    tenant_id_env: str = Field(default="REPLENIT_TENANT_ID",
                               description="The environment variable tenant_id comes from, named in errors that say what to fix.")
    api_key_env: str = Field(default="REPLENIT_API_KEY",
                             description="The environment variable api_key comes from, named in errors that say what to fix.")
    quota_dir: str | None = Field(default=None,
                                  description="Folder of the key's quota ledgers, shared by every process using the key; "
                                              "default: quota/ in the state folder (REPLENIT_STATE_DIR).")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Checked when a run starts, not when definitions load: a bad REPLENIT_CUSTOMER_PRIORITY
        # fails the run with what to set, and the code location (and its UI) still loads.
        try:
            check_customer_priority(self.customer_priority)
        except ValueError as exc:
            raise dg.Failure(description=str(exc)) from None

    def client(self, batch_sizes: dict[str, int] | None = None, lane: Lane = "bulk") -> ReplenitClient:
        """`batch_sizes`: records per request by entity (a run's config), capped at the API's hard maxima;
        `lane`: the quota lane of its requests (fresh for a partition's sync, bulk for the rest)."""
        config = ClientConfig(
            base_url=self.base_url, tenant_id=self.tenant_id, api_key=ApiKey(self.api_key, self.api_key_env),
            limits=tuple(parse_limits(self.limits)), max_in_flight=self.max_in_flight,
            read_timeout_s=self.read_timeout_s, max_attempts=self.max_attempts,
            quota_dir=self.quota_dir or str(Settings.from_env().quota_dir), lane=lane,
            tenant_id_env=self.tenant_id_env, api_key_env=self.api_key_env,
        )
        if batch_sizes:
            config = dataclasses.replace(config, batch_sizes={**config.batch_sizes, **batch_sizes})  # re-checked and capped
        return ReplenitClient(config)

    def __repr__(self) -> str:
        return f"ReplenitResource(base_url={self.base_url!r}, tenant_id={self.tenant_id!r}, api_key='********')"

    __str__ = __repr__


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse (a DuckDB file) and the mapping from its columns to API fields."""

    database: str = Field(description="The warehouse: a DuckDB file (REPLENIT_WAREHOUSE).")
    mapping: str = Field(description="The YAML mapping from warehouse columns to API fields (REPLENIT_MAPPING); for a "
                                     "mapping written inline in a defs.yaml, that file (relative paths start there).")
    mapping_yaml: str | None = Field(default=None, description="A mapping written inline in the component's defs.yaml, "
                                                               "as YAML text; unset: read the mapping file.")
    _mappings: dict = PrivateAttr(default_factory=dict)

    def mapping_for(self, entity: str) -> EntityMapping:
        if not self._mappings:
            if self.mapping_yaml is not None:
                self._mappings.update(mappings_from_dict(yaml.safe_load(self.mapping_yaml), self.mapping))
            else:
                self._mappings.update(load_mapping(self.mapping))
        if entity not in self._mappings:
            raise dg.Failure(f"{self.mapping} has no '{entity}' section: add one to sync {entity}")
        return self._mappings[entity]

    def warehouse(self) -> Warehouse:
        return Warehouse(self.database)


class StateStoreResource(dg.ConfigurableResource):
    """Where quarantined rows, dead letters and run counts are kept (a DuckDB file, or Postgres
    when REPLENIT_STATE_URL is set: read when a run opens it, never part of the config)."""

    path: str = Field(description="The state store, a DuckDB file (state.duckdb in REPLENIT_STATE_DIR).")
    state_url_env: str | None = Field(default=None, description="The environment variable holding a Postgres state URL "
                                                                 "(a secret, read when a run opens the store); unset: "
                                                                 "REPLENIT_STATE_URL.")
    namespace: str | None = Field(default=None, description="On Postgres, the schema of this instance's tables "
                                                            "(an instance other than the default one, on the shared "
                                                            "REPLENIT_STATE_URL); unset: the URL's own search path.")

    def _state_url(self) -> Any:
        from replenit_pipelines.lib.postgres import FROM_ENV

        return FROM_ENV if self.state_url_env is None else (os.environ.get(self.state_url_env) or None)

    def store(self) -> StateStore:
        return open_state_store(self.path, self._state_url(), self.namespace)

    def ledger(self, client: ReplenitClient, entity: str) -> Ledger:
        """The acknowledged-state ledger of this client's API and tenant for `entity`, in the
        state store's folder (ledger/<host_tenant>/<entity>.sqlite)."""
        return open_ledger(Path(self.path).parent, client.config.base_url, client.config.tenant_id, entity, self._state_url())


def site_resources(site: SyncSite) -> dict[str, dg.ConfigurableResource]:
    """The instance's resources under its own keys. The tenant id and the key are EnvVars: read
    when a run starts, so definitions load with no secret set."""
    return {
        site.names.replenit_resource: ReplenitResource(
            base_url=site.base_url, tenant_id=dg.EnvVar(site.tenant_id_env), api_key=dg.EnvVar(site.key_env),
            tenant_id_env=site.tenant_id_env, api_key_env=site.key_env,
            limits=site.limits, customer_priority=site.customer_priority, quota_dir=site.quota_dir,
        ),
        site.names.warehouse_resource: WarehouseResource(database=site.warehouse_path, mapping=site.mapping_path,
                                                         mapping_yaml=site.mapping_yaml),
        site.names.state_resource: StateStoreResource(path=site.state_path(), state_url_env=site.state_url_env,
                                                           namespace=site.state_namespace),
    }


def instance_resources(context: dg.AssetExecutionContext | dg.OpExecutionContext,
                       site: SyncSite) -> tuple[ReplenitResource, WarehouseResource, StateStoreResource]:
    """The instance's resources in a step (their keys are the instance's, see site.py); a step that
    required only some of them gets None for the others."""
    r = context.resources
    return (getattr(r, site.names.replenit_resource, None), getattr(r, site.names.warehouse_resource, None),  # type: ignore[return-value]
            getattr(r, site.names.state_resource, None))


def required_keys(site: SyncSite, *which: str) -> set[str]:
    keys = {"replenit": site.names.replenit_resource, "warehouse": site.names.warehouse_resource,
            "state": site.names.state_resource}
    return {keys[w] for w in (which or keys)}
