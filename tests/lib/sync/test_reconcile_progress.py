"""How a reconciliation splits the source: a source smaller than one chunk is one chunk, and a
converted customers source is chunked by the tenant's identity priority. Real sandbox, DuckDB
warehouse, SQLite ledger."""

from test_reconcile import Rig

from tests.helpers import ORDER_MAPPING, order_rows


def test_an_order_source_smaller_than_one_chunk_is_read_as_one_chunk(sandbox, tmp_path):
    rig = Rig(sandbox, tmp_path, mapping=ORDER_MAPPING, table="order_lines")
    try:
        rig.load(order_rows(3, "o1") + order_rows(2, "o2"))
        result, sent = rig.reconcile(chunk_rows=100)
        c = result.counts()
        assert (c["chunks"], c["rows_delivered"], len(sent)) == (1, 5, 1)
    finally:
        rig.client.close()
