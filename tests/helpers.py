"""Builders shared by the pipeline tests: mappings in Python, frames in, payloads out."""

import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from replenit_pipelines.lib.delivery.quota import QuotaLimiter
from replenit_pipelines.lib.validation import prepare
from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict

TS = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

CUSTOMER_MAPPING = entity_mapping_from_dict("customers", {
    "source": {"table": "customers", "window_column": "updated_at"},
    "fields": {"CustomerId": "id", "Email": "email", "Name": "name", "Phone": "phone", "Language": "locale",
               "GdprOptin": "gdpr"},
})

ORDER_MAPPING = entity_mapping_from_dict("orders", {
    "source": {"table": "order_lines", "window_column": "updated_at"},
    "fields": {"OrderId": "order_id", "CustomerId": "customer_id", "Currency": "currency", "OrderDate": "ordered_at",
               "Status": "status"},
    "OrderItems": {"key": "line_id", "fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}},
})

LINE_FIELDS = {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}


def orders_with_line_table(parent_source: dict, line_source: dict | None = None, line_fields: dict | None = None):
    """Orders whose lines are a table of their own, `lines` (line_id; order_ref holds the order's
    order_id): the normalized shape, its parent read from `parent_source`."""
    return entity_mapping_from_dict("orders", {
        "source": parent_source,
        "fields": {"OrderId": "order_id", "CustomerId": "customer_id", "Currency": "currency", "OrderDate": "ordered_at"},
        "OrderItems": {"source": line_source or {"table": "lines"}, "parent_key": "order_ref", "key": "line_id",
                       "fields": line_fields or LINE_FIELDS},
    })


PRODUCT_MAPPING = entity_mapping_from_dict("products", {
    "source": {"table": "product_variants", "window_column": "updated_at"},
    "fields": {"ProductId": "product_id", "ProductName": "name"},
    "ProductVariants": {"fields": {"VariantId": "variant_id", "SalePrice": "price", "Currency": "currency",
                                   "ProductUrl": "url", "Language": "locale"}},
})


def customer_rows(**overrides) -> dict:
    row = {"id": "c1", "email": "ada@example.com", "name": "Ada", "phone": "+447911123456", "locale": "en-GB",
           "gdpr": True, "updated_at": TS}
    return {**row, **overrides}


def order_rows(n_lines: int = 2, order_id: str = "o1", **overrides) -> list[dict]:
    base = {"order_id": order_id, "customer_id": "c1", "currency": "EUR", "ordered_at": "2026-11-26T13:00:00+01:00",
            "status": "completed", "updated_at": TS}
    return [{**base, "line_id": f"{order_id}-{i}", "product_id": f"p{i}", "qty": i + 1, "price": 10.0, **overrides}
            for i in range(n_lines)]


def run(mapping, rows: list[dict], **kw):
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return prepare(mapping, frame, **kw)


def payloads(prepared) -> list[dict]:
    return prepared.records.select(prepared.payload_columns()).to_dicts()


def reasons(prepared) -> set[tuple[str, str]]:
    return {(r["rule"], r["field"]) for r in prepared.quarantine.iter_rows(named=True)}


# Payload records as a client sends them (the sandbox tests post these).
CUSTOMER = {"CustomerId": "c1", "Email": "ada@example.com", "Name": "Ada", "Language": "en-GB"}
ORDER = {
    "OrderId": "o1", "CustomerId": "c1", "Currency": "EUR", "OrderDate": "2024-12-22T14:30:00Z",
    "TotalRevenue": 30.0, "TotalQuantity": 3, "UniqueQuantity": 2, "Status": "completed",
    "OrderItems": [{"ProductId": "p1", "Quantity": 2, "Price": 10.0}, {"ProductId": "p2", "Quantity": 1, "Price": 10.0}],
}
PRODUCT = {
    "ProductId": "p1", "ProductName": "Kettle", "Taxonomy": ["Kitchen"],
    "ProductVariants": [{"VariantId": "v1", "Sku": "SKU-1", "SalePrice": 20.0, "Currency": "EUR"},
                        {"VariantId": "v2", "Sku": "SKU-2"}],
}


class FakeClock:
    """time.time and time.sleep for the limiter and the client: sleeping moves the clock, nothing waits."""

    def __init__(self, now: float):
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def point_at_sandbox(monkeypatch, sandbox, warehouse, state_dir, key_name: str = "test") -> dict[str, str]:
    """Point the code location's settings at a fresh tenant of `sandbox`, the given warehouse and
    state folder, and the packaged demo mapping; returns the variables set."""
    tenant_id, key = sandbox.add_tenant()
    values = {"REPLENIT_BASE_URL": sandbox.url, "REPLENIT_TENANT_ID": tenant_id, "REPLENIT_API_KEY": key,
              "REPLENIT_WAREHOUSE": str(warehouse), "REPLENIT_STATE_DIR": str(state_dir), "REPLENIT_KEY_NAME": key_name}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("REPLENIT_MAPPING", raising=False)
    return values


def counts_of(mat, part: str = "window") -> dict:
    """Every count of a sync materialization (its `counts` JSON, not plotted): the partition
    window's own (`window`) or the lookback's (`lookback`)."""
    return mat.metadata["counts"].value[part]


def metadata_of(mat) -> dict:
    """A sync materialization's metadata values, with every count of its window (counts_of) under
    the plotted keys (which win: `requests` there is every request of the run)."""
    return {**counts_of(mat), **{k: v.value for k, v in mat.metadata.items()}}


def whole_read_of(mat) -> dict:
    """The counts of everything the run read: its window's and its lookback's added up (what it sent)."""
    own, lookback = counts_of(mat), counts_of(mat, "lookback")
    return {k: v + lookback.get(k, 0) if isinstance(v, int | float) and not isinstance(v, bool) else v for k, v in own.items()}


def fast_link_limiter(path: Path, windows, clock=time.time, sleep=time.sleep) -> QuotaLimiter:
    """A quota limiter that has measured a fast link: its edge guard is at its floor."""
    q = QuotaLimiter(windows, path, clock=clock, sleep=sleep)
    for _ in range(50):
        q.record_latency(0.001)
    return q


def duckdb_warehouse(path: Path, *statements: str) -> Warehouse:
    """A DuckDB warehouse file made by the given SQL statements (tables, rows), opened as the syncs open it."""
    with duckdb.connect(str(path)) as con:
        for statement in statements:
            con.execute(statement)
    return Warehouse(path)
