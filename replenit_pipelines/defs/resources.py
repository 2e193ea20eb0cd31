import os

import dagster as dg
from pydantic import PrivateAttr

from replenit_pipelines.defs import settings
from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY
from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.contract.api import parse_limits
from replenit_pipelines.lib.sync import StateStore
from replenit_pipelines.lib.warehouse import EntityMapping, Warehouse, load_mapping


class ReplenitResource(dg.ConfigurableResource):
    """The Replenit Ingestion API for one tenant and key. The key comes from an EnvVar and is
    read only when a run starts; it never appears in this resource's repr."""

    base_url: str = settings.DEFAULT_SANDBOX_URL
    tenant_id: str
    api_key: str
    limits: str = "100/60,5000/3600"  # REQUESTS/SECONDS windows of the key's quota
    max_in_flight: int = 4
    read_timeout_s: float = 60.0
    max_attempts: int = 5
    # How the tenant matches customers (REPLENIT_CUSTOMER_PRIORITY): prepare supersedes by it.
    customer_priority: str = DEFAULT_CUSTOMER_PRIORITY

    def client(self) -> ReplenitClient:
        return ReplenitClient(ClientConfig(
            base_url=self.base_url, tenant_id=self.tenant_id, api_key=self.api_key,
            limits=tuple(parse_limits(self.limits)), max_in_flight=self.max_in_flight,
            read_timeout_s=self.read_timeout_s, max_attempts=self.max_attempts,
            quota_dir=str(settings.state_dir() / "quota"),
        ))

    def __repr__(self) -> str:
        return f"ReplenitResource(base_url={self.base_url!r}, tenant_id={self.tenant_id!r}, api_key='********')"

    __str__ = __repr__


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse (a DuckDB file) and the mapping from its columns to API fields."""

    database: str
    mapping: str
    _mappings: dict = PrivateAttr(default_factory=dict)

    def mapping_for(self, entity: str) -> EntityMapping:
        if not self._mappings:
            self._mappings.update(load_mapping(self.mapping))
        if entity not in self._mappings:
            raise dg.Failure(f"{self.mapping} has no '{entity}' section: add one to sync {entity}")
        return self._mappings[entity]

    def warehouse(self) -> Warehouse:
        return Warehouse(self.database)


class StateStoreResource(dg.ConfigurableResource):
    """Where quarantined rows, dead letters and run counts are kept (a DuckDB file)."""

    path: str

    def store(self) -> StateStore:
        return StateStore(self.path)


def _env_or(name: str, default: str) -> str | dg.EnvVar:
    return dg.EnvVar(name) if os.environ.get(name) else default


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={
        "replenit": ReplenitResource(
            base_url=_env_or("REPLENIT_BASE_URL", settings.DEFAULT_SANDBOX_URL),
            tenant_id=dg.EnvVar("REPLENIT_TENANT_ID"),
            api_key=dg.EnvVar("REPLENIT_API_KEY"),
            limits=_env_or("REPLENIT_LIMITS", "100/60,5000/3600"),
            customer_priority=settings.customer_priority(),
        ),
        "warehouse": WarehouseResource(database=settings.warehouse_path(), mapping=str(settings.mapping_path())),
        "state": StateStoreResource(path=str(settings.state_dir() / "state.duckdb")),
    })
