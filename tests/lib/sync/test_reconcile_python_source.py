"""A reconciliation of customers from a Python source (`source: {python: module:function}`, read by
frames): each call of the function is a read of the user's system. The time those reads take is
the run's local time (`local_s`, from the first count of rows on), and a run the API stops reads
no further chunk. Real sandbox, SQLite ledger, the source module written beside the mapping file."""

import sys
import uuid

import pytest
from test_ledger_sync import customers
from test_reconcile import Rig
from test_reconcile_carry import small_batches

from replenit_pipelines.lib.delivery import ReplenitStopError
from replenit_pipelines.lib.sync.reconcile import ReconcileRequest, reconcile
from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict

SOURCE = """import time
import polars as pl

calls = 0
rows = []
pause_s = 0.0


def customers():
    global calls
    calls += 1
    time.sleep(pause_s)
    return pl.DataFrame(rows, infer_schema_length=None).lazy()
"""


def python_source(tmp_path, rows: list[dict], pause_s: float = 0.0):
    module = f"crm_{uuid.uuid4().hex}"  # one module per test: Python caches imports by name
    (tmp_path / f"{module}.py").write_text(SOURCE)
    mapping = entity_mapping_from_dict(
        "customers",
        {
            "source": {"python": f"{module}:customers", "window_column": "updated_at"},
            "fields": {"CustomerId": "id", "Email": "email", "Name": "name", "Language": "locale", "GdprOptin": "gdpr"},
        },
        origin=str(tmp_path / "mapping.yaml"),
    )
    sys.path.insert(0, str(tmp_path))
    try:
        source = __import__(module)
    finally:
        sys.path.remove(str(tmp_path))
    source.rows, source.pause_s = rows, pause_s
    return mapping, source


def run(rig: Rig, mapping, **kw):
    with rig.ledger() as ledger:
        return reconcile(
            ReconcileRequest(
                mapping=mapping,
                warehouse=Warehouse(None),
                client=rig.client,
                ledger=ledger,
                store=rig.store,
                run_id=f"r-{uuid.uuid4().hex[:6]}",
                **kw,
            )
        )


def test_the_sources_reads_before_the_chunks_are_local_time(sandbox, tmp_path):
    mapping, source = python_source(tmp_path, customers(20), pause_s=0.3)
    rig = Rig(sandbox, tmp_path, mapping=mapping)
    try:
        result = run(rig, mapping, mirror=True, chunk_rows=10)
        assert result.counts()["rows_delivered"] == 20
        # Every call (the row count, the chunking, the deletes' pass, each chunk) is local work.
        assert source.calls >= 4 and result.local_s >= 0.3 * source.calls
    finally:
        rig.client.close()


def test_a_run_the_api_stops_reads_no_further_chunk(sandbox, tmp_path):
    mapping, source = python_source(tmp_path, customers(240))
    rig = Rig(sandbox, tmp_path, mapping=mapping)
    small_batches(rig)  # 30 records a request: several requests a chunk
    try:
        whole = run(rig, mapping, chunk_rows=80, full_refresh=True)
        assert whole.chunks >= 3
        reads_of_a_whole_run = source.calls
        source.calls = 0

        def revoke_at_the_first_batch(p) -> None:
            if p.chunk_records_done:
                sandbox.state.keys.pop(rig.client.config.api_key.reveal(), None)

        with pytest.raises(ReplenitStopError):
            run(rig, mapping, chunk_rows=80, full_refresh=True, progress=revoke_at_the_first_batch)
        # Chunk 1 was read while chunk 0 was sent; nothing after the stop.
        assert source.calls == reads_of_a_whole_run - (whole.chunks - 2)
    finally:
        rig.client.close()


def test_a_window_of_a_python_source_maps_and_validates(tmp_path):
    """docs/configuration.md's own example (`source: {python: ..., window_column: updated_at}`): its
    rows were read, then mapping them asked the source's columns without end (RecursionError)."""
    from datetime import timedelta

    from test_ledger_sync import DAY

    from replenit_pipelines.lib.stages.extract import extract
    from replenit_pipelines.lib.validation import prepare

    mapping, _ = python_source(tmp_path, customers(3))
    assert mapping.source_columns() == {"id", "email", "name", "locale", "gdpr", "__replenit_ts"}
    prepared = prepare(mapping, extract(mapping, Warehouse(None), DAY, DAY + timedelta(days=1)).rows)
    assert prepared.records["CustomerId"].to_list() == ["c0", "c1", "c2"]


def test_a_customerid_reconciliation_reads_the_source_to_count_it_and_once_a_chunk_nothing_more(sandbox, tmp_path):
    # Under the `customerid` priority each customer is one identity: no pass over the source to find
    # the customers whose rows span identities (an email priority's first pass).
    mapping, source = python_source(tmp_path, customers(20))
    rig = Rig(sandbox, tmp_path, mapping=mapping)
    try:
        by_id = run(rig, mapping, chunk_rows=10, customer_priority="customerid")
        assert by_id.chunks == 2 and by_id.counts()["rows_delivered"] == 20
        assert source.calls == 1 + by_id.chunks
        source.calls = 0
        by_email = run(rig, mapping, chunk_rows=10)
        assert source.calls == 2 + by_email.chunks
    finally:
        rig.client.close()
