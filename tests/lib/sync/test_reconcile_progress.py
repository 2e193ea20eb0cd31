"""How a reconciliation splits the source and reports it: a converted customers source smaller than
one chunk is one chunk, it is chunked by CustomerId under the `customerid` priority, and a chunk's
progress counts against the whole chunk. Real sandbox, DuckDB warehouse, SQLite ledger."""

from datetime import datetime

from test_ledger_sync import customers
from test_reconcile import Rig
from test_reconcile_carry import small_batches

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.warehouse import entity_mapping_from_dict

PAIRS = 20
FIELDS = {"CustomerId": "id", "Email": "email", "Name": "name", "Phone": "phone", "Language": "locale", "GdprOptin": "gdpr"}
# A text window column: customers read by frames.
TEXT_WINDOW = entity_mapping_from_dict(
    "customers",
    {"source": {"table": "customers_text", "window_column": {"column": "updated_at", "format": "iso8601"}}, "fields": FIELDS},
)


def text_rows(rows: list[dict]) -> list[dict]:
    return [{**r, "updated_at": r["updated_at"].isoformat()} for r in rows]


def test_a_converted_customer_source_smaller_than_one_chunk_is_read_as_one_chunk(sandbox, tmp_path):
    rig = Rig(sandbox, tmp_path, mapping=TEXT_WINDOW, table="customers_text")
    try:
        rig.load(text_rows(customers(5)))
        result, sent = rig.reconcile(chunk_rows=100)
        c = result.counts()
        assert (c["chunks"], c["rows_delivered"], len(sent)) == (1, 5, 1)
    finally:
        rig.client.close()


def test_a_converted_customer_source_is_chunked_by_the_id_under_the_customerid_priority(sandbox, tmp_path):
    """Two rows of one CustomerId with different emails are one customer: in one chunk, the newer stored."""
    rows = customers(30)
    for i in range(PAIRS):
        rows += [
            {
                "id": f"K{i}",
                "email": f"first{i}@x.com",
                "name": f"Old {i}",
                "phone": None,
                "locale": "en-GB",
                "gdpr": True,
                "updated_at": datetime(2026, 1, 1, 12, i),
            },
            {
                "id": f"K{i}",
                "email": f"second{i}@x.com",
                "name": f"New {i}",
                "phone": None,
                "locale": "en-GB",
                "gdpr": True,
                "updated_at": datetime(2026, 6, 1, 12, i),
            },
        ]
    rig = Rig(sandbox, tmp_path, mapping=TEXT_WINDOW, table="customers_text")
    rig.client.close()  # a tenant that matches customers by CustomerId
    rig.tenant_id, rig.key = sandbox.add_tenant(customer_priority="customerid")
    rig.client = ReplenitClient(
        ClientConfig(base_url=sandbox.url, tenant_id=rig.tenant_id, api_key=rig.key, limits=(), quota_dir=str(rig.quota_dir))
    )
    rig.load(text_rows(rows))
    try:
        result, _ = rig.reconcile(chunk_rows=10, customer_priority="customerid")
        stored = rig.stored()
        assert result.counts()["chunks"] > 3
        assert len(stored) == 30 + PAIRS
        assert all(stored[f"customerid:K{i}"]["Name"] == f"New {i}" for i in range(PAIRS))
        assert result.counts()["rows_superseded"] == PAIRS
    finally:
        rig.client.close()


def test_a_chunk_of_full_batches_reports_its_progress_against_the_whole_chunk(sandbox, tmp_path):
    rig = Rig(sandbox, tmp_path)
    small_batches(rig)  # 30 records a request
    try:
        rig.load(customers(60))  # one chunk, two full requests
        events: list = []
        result, sent = rig.reconcile(chunk_rows=1000, progress=events.append)
        assert (result.counts()["chunks"], [r["records"] for r in sent]) == (1, [30, 30])
        assert [(e.chunk_records_done, e.chunk_records_total) for e in events if e.chunk_records_done][:2] == [(30, 60), (60, 60)]
    finally:
        rig.client.close()


def test_a_converted_customer_sources_progress_counts_its_rows(sandbox, tmp_path):
    rig = Rig(sandbox, tmp_path, mapping=TEXT_WINDOW, table="customers_text")
    try:
        rig.load(text_rows(customers(25)))
        events: list = []
        result, _ = rig.reconcile(chunk_rows=10, progress=events.append)
        assert result.counts()["chunks"] == 3
        assert {e.rows_total for e in events} == {25}
        assert (events[-1].chunk, events[-1].chunks, events[-1].rows_done) == (3, 3, 25)
    finally:
        rig.client.close()


def test_the_progress_lines_say_the_eta_is_a_lower_bound_until_the_first_chunk_ends(sandbox, tmp_path):
    """Before any chunk ends there is no pace: the ETA is the chunk in flight's quota time, a
    floor, and the line says so; after it, a plain ETA. One request is "1 request"."""
    rig = Rig(sandbox, tmp_path, mapping=TEXT_WINDOW, table="customers_text")
    try:
        rig.load(text_rows(customers(15)))
        lines: list[str] = []
        result, sent = rig.reconcile(chunk_rows=10, log=lines.append, log_every_s=0.0)
        assert (result.counts()["chunks"], len(sent)) == (2, 1)  # the first chunk's partial batch is carried into the second
        first_chunk = [line for line in lines if "chunk 0/2" in line]
        after_first = [line for line in lines if "chunk 1/2" in line or "chunk 2/2" in line]
        assert first_chunk and after_first
        assert all(line.endswith("; ETA at least 0s (this chunk's quota time; the pace is known when the first chunk ends)")
                   for line in first_chunk), first_chunk
        assert all("ETA at least" not in line and "; ETA " in line for line in after_first), after_first
        assert lines[-1].startswith("reconcile customers: chunk 2/2, 15/15 rows, 1 request, "), lines[-1]
    finally:
        rig.client.close()
