"""What we call valid the sandbox accepts; what we quarantine the sandbox rejects."""

from datetime import UTC, datetime, timedelta

import orjson
import polars as pl
import pytest

from replenit_pipelines.lib.contract.identity import record_key
from replenit_pipelines.lib.settings import DEMO_MAPPING
from replenit_pipelines.lib.validation import payload_parts, prepare
from replenit_pipelines.lib.validation.mapped import nest_records
from replenit_pipelines.lib.warehouse import Warehouse, load_mapping
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

END = datetime(2026, 11, 27, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("agree") / "demo.duckdb"
    build_demo_warehouse(path, customers=4000, seed=11, days=1, end=END, dirty_share=0.05)
    return path


def quarantined_payloads(mapping, raw) -> list[bytes]:
    """The payloads our pipeline refused to send, built anyway (normalized, nested)."""
    prepared = prepare(mapping, raw)
    bad_ids = set(prepared.quarantine["record_id"])
    from replenit_pipelines.lib.validation.normalize import normalize

    mapping = mapping.as_read()  # over the frame the read returned (child fields as their own columns)
    exprs = [pl.col("__row"), pl.col(mapping.source.window_column).alias("__ts"), *(f.expression() for f in mapping.all_fields)]
    flat = raw.with_row_index("__row").select(exprs)
    flat = normalize(flat, mapping.spec, mapping.source.timezone).frame
    key = pl.coalesce(record_key(mapping.entity, flat.columns), pl.format("row {}", pl.col("__row")))
    flat = flat.with_columns(key.alias("__key")).filter(pl.col("__key").is_in(list(bad_ids)))
    return payload_parts(nest_records(flat, mapping))


@pytest.mark.parametrize("entity", ["customers", "products", "orders"])
def test_valid_accepted_and_quarantined_rejected(api, demo_db, entity):
    mapping = load_mapping(DEMO_MAPPING)[entity]
    raw = Warehouse(demo_db).read(mapping, END - timedelta(days=1), END)
    prepared = prepare(mapping, raw)
    assert prepared.records_valid > 0 and prepared.records_quarantined > 0
    hard_max = mapping.spec.hard_max
    valid = payload_parts(prepared.records)
    for i in range(0, len(valid), hard_max):
        chunk = valid[i:i + hard_max]
        r = api.post(f"/{entity}/{api.tenant_id}", content=b"[" + b",".join(chunk) + b"]",
                     headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text[:2000]
    bad = quarantined_payloads(mapping, raw)
    assert len(bad) == prepared.records_quarantined
    for i in range(0, len(bad), hard_max):
        chunk = bad[i:i + hard_max]
        r = api.post(f"/{entity}/{api.tenant_id}", content=b"[" + b",".join(chunk) + b"]",
                     headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        rejected = {int(k[1:k.index("]")]) for k in r.json()["errors"] if k.startswith("[")}
        missed = [orjson.loads(chunk[j]) for j in range(len(chunk)) if j not in rejected]
        assert not missed, f"quarantined by us, accepted by the sandbox: {missed[:3]}"
