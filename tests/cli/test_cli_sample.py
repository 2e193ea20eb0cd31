"""`replenit sync ENTITY --sample N` / `--identity ID ...` (issue 27 item 6) and `--dry-run --diff`
(item 7): the real command, in process, against the sandbox over HTTP, on the demo warehouse; the
sandbox's own request log says what was sent."""

import json
import re

import httpx
import pytest
from helpers import point_at_sandbox

from replenit_pipelines import cli
from replenit_pipelines.lib.ledger import open_ledger
from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse


@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "wh.duckdb"
    build_demo_warehouse(path, customers=300, seed=7, days=2)
    return path


@pytest.fixture
def env(monkeypatch, sandbox, demo_warehouse, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REPLENIT_LEDGER_KEEP_PAYLOADS", raising=False)
    return point_at_sandbox(monkeypatch, sandbox, demo_warehouse, tmp_path / "state")


def requests_of(sandbox, tenant_id: str) -> list[dict]:
    return [r for r in httpx.get(f"{sandbox.url}/_sandbox/requests").json() if tenant_id in r["path"]]


def first_keys(warehouse, table: str, column: str, n: int) -> list[str]:
    import duckdb

    sql = f"SELECT DISTINCT CAST({column} AS VARCHAR) AS k FROM {table} WHERE {column} IS NOT NULL ORDER BY k LIMIT {n}"  # noqa: S608 - test names
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [r[0] for r in con.sql(sql).fetchall()]


def ledger_of(env, entity: str):
    return open_ledger(env["REPLENIT_STATE_DIR"], env["REPLENIT_BASE_URL"], env["REPLENIT_TENANT_ID"], entity)


def test_a_sample_of_5_customers_costs_one_request_and_shows_it(env, sandbox, demo_warehouse, capsys):
    tenant, key = env["REPLENIT_TENANT_ID"], env["REPLENIT_API_KEY"]
    assert cli.main(["sync", "customers", "--sample", "5", "--dry-run"]) == 0  # the request it would send, not sent
    dry = capsys.readouterr().out
    assert f"> POST /customers/{tenant}  (5 records" in dry and "< not sent (dry run)" in dry and requests_of(sandbox, tenant) == []
    code = cli.main(["sync", "customers", "--sample", "5"])
    captured = capsys.readouterr()
    out = captured.out
    sent = requests_of(sandbox, tenant)
    assert len(sent) == 1, sent  # 5 records, 1 request
    assert key not in out + captured.err
    # The request and its answer as they went over the wire: method, path (tenant as elsewhere), status.
    assert f"> POST /customers/{tenant}" in out and "< 200" in out
    keys = first_keys(demo_warehouse, "customers", "customer_id", 5)
    assert all(f'"CustomerId": "{k}"' in out for k in keys)  # the sampled records, pretty
    # The ledger holds exactly the delivered ones (quarantined ones are not sent, and say why).
    delivered = sent[0]["records"]
    with ledger_of(env, "customers") as ledger:
        assert ledger.size() == delivered == 5  # the demo's first 5 customers (seed 7) are valid
    outcomes = re.findall(r"(delivered \(200\)|quarantined, not sent)", out)
    assert outcomes.count("delivered (200)") == delivered and len(outcomes) == 5
    assert code == 0, out
    # Again: unchanged, reported as such, nothing sent; --full-refresh sends them anyway.
    assert cli.main(["sync", "customers", "--sample", "5"]) == 0
    assert "unchanged: Replenit holds it as it is" in capsys.readouterr().out
    assert len(requests_of(sandbox, tenant)) == 1
    assert cli.main(["sync", "customers", "--sample", "5", "--full-refresh"]) == 0
    assert len(requests_of(sandbox, tenant)) == 2
    capsys.readouterr()


def test_sampled_orders_carry_all_their_lines(env, sandbox, demo_warehouse, capsys):
    import duckdb

    tenant = env["REPLENIT_TENANT_ID"]
    [order] = first_keys(demo_warehouse, "orders", "order_id", 1)
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        lines = con.sql("SELECT count(*) FROM order_lines WHERE CAST(order_id AS VARCHAR) = $o", params={"o": order}).fetchall()[0][0]
    assert cli.main(["sync", "orders", "--identity", order, "--json"]) in (0, 1)
    doc = json.loads(capsys.readouterr().out)
    assert doc["sample"] == [order] and len(doc["exchanges"]) == 1
    [request] = doc["exchanges"]
    assert request["status"] == 200 and len(request["request"]) == 1
    assert len(request["request"][0]["OrderItems"]) == lines > 1
    assert [r["identity"] for r in doc["ledger"]] == [r["identity"] for r in doc["records"]]
    assert doc["ledger"][0]["run_id"] == doc["run_id"] and len(doc["ledger"][0]["hash"]) == 12
    assert len(requests_of(sandbox, tenant)) == 1


def test_an_unknown_identity_exits_2_and_sends_nothing(env, sandbox, demo_warehouse, capsys):
    [known] = first_keys(demo_warehouse, "customers", "customer_id", 1)
    assert cli.main(["sync", "customers", "--identity", known, "no-such-customer"]) == 2
    err = capsys.readouterr().err
    assert "whose customer_id is 'no-such-customer'; nothing was sent" in err and known not in err
    assert requests_of(sandbox, env["REPLENIT_TENANT_ID"]) == []


def test_dry_run_diff_shows_the_changed_fields(env, sandbox, demo_warehouse, monkeypatch, tmp_path, capsys, state_backend):
    import shutil

    import duckdb

    monkeypatch.setenv("REPLENIT_LEDGER_KEEP_PAYLOADS", "1")
    warehouse = tmp_path / "wh.duckdb"
    shutil.copy(demo_warehouse, warehouse)
    monkeypatch.setenv("REPLENIT_WAREHOUSE", str(warehouse))
    keys = first_keys(warehouse, "customers", "customer_id", 8)
    assert cli.main(["sync", "customers", "--identity", *keys[:6]]) in (0, 1)
    capsys.readouterr()
    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE customers SET last_name = 'Other' WHERE customer_id = $k", {"k": keys[5]})
    monkeypatch.setenv("REPLENIT_LEDGER_KEEP_PAYLOADS", "0")
    assert cli.main(["sync", "customers", "--identity", keys[5]]) in (0, 1)  # acknowledged again, not kept: stale
    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE customers SET first_name = 'Zed' WHERE customer_id IN (SELECT unnest($k))", {"k": keys[:6]})
    capsys.readouterr()
    assert cli.main(["sync", "customers", "--identity", *keys, "--dry-run", "--diff"]) == 0
    out = capsys.readouterr().out
    changed = re.findall(r'^    Name: "[^"]*" → "Zed"$', out, re.M)
    assert len(changed) == 5 and ": changed; its last acknowledged payload was not kept" in out  # keys[5], stale: said so
    assert "changed records: 6" in out and "(2 new ones not listed" in out
    assert requests_of(sandbox, env["REPLENIT_TENANT_ID"]) != []
    assert cli.main(["sync", "customers", "--identity", *keys, "--dry-run", "--diff", "--diff-records", "1", "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)["diff"]
    assert len(diff["changed"]) == 1 and diff["changed_not_shown"] == 5 and diff["new"] == 2
    assert diff["changed"][0]["fields"][0]["new"] == "Zed"


ORDER_LINES_MAPPING = """\
orders:
  source: {table: order_lines, window_column: updated_at}
  fields: {OrderId: order_id, CustomerId: customer_id, Currency: currency, OrderDate: ordered_at}
  OrderItems:
    key: line_id
    fields: {ProductId: product_id, Quantity: qty, Price: price}
"""


def test_a_sample_of_a_table_of_lines_takes_whole_orders(env, sandbox, monkeypatch, tmp_path, capsys):
    """One row per line: the sample is N orders with every line each, not the first N rows."""
    from helpers import order_rows
    from test_ledger_sync import write_table

    rows = order_rows(3, "o3") + order_rows(3, "o1") + order_rows(2, "o2")
    write_table(tmp_path / "lines.duckdb", "order_lines", rows)
    (tmp_path / "orders.yaml").write_text(ORDER_LINES_MAPPING)
    monkeypatch.setenv("REPLENIT_WAREHOUSE", str(tmp_path / "lines.duckdb"))
    monkeypatch.setenv("REPLENIT_MAPPING", str(tmp_path / "orders.yaml"))
    assert cli.main(["sync", "orders", "--sample", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sample"] == ["o1", "o2"]
    [exchange] = doc["exchanges"]
    assert {o["OrderId"]: len(o["OrderItems"]) for o in exchange["request"]} == {"o1": 3, "o2": 2}
    assert [r["records"] for r in requests_of(sandbox, env["REPLENIT_TENANT_ID"])] == [2]


def test_a_partitions_dry_run_diff_and_where_diff_is_refused(env, sandbox, demo_warehouse, monkeypatch, tmp_path, capsys):
    import shutil
    from datetime import UTC, datetime, timedelta

    import duckdb

    monkeypatch.setenv("REPLENIT_LEDGER_KEEP_PAYLOADS", "1")
    warehouse = tmp_path / "wh.duckdb"
    shutil.copy(demo_warehouse, warehouse)
    monkeypatch.setenv("REPLENIT_WAREHOUSE", str(warehouse))
    day = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    assert cli.main(["sync", "customers", "--partition", day]) == 0
    capsys.readouterr()
    # Unchanged records a --full-refresh would re-send are not changed ones.
    assert cli.main(["sync", "customers", "--partition", day, "--dry-run", "--diff", "--full-refresh"]) == 0
    assert "changed records: none\n" in capsys.readouterr().out
    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE customers SET sms_opt_in = NOT sms_opt_in")
    capsys.readouterr()
    assert cli.main(["sync", "customers", "--partition", day, "--dry-run", "--diff", "--diff-records", "3"]) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"^    SmsOptin: (true → false|false → true)$", out, re.M)) == 3
    assert re.search(r"^  … and [\d,]+ more changed records$", out, re.M) and "dry run" in out
    sent = len(requests_of(sandbox, env["REPLENIT_TENANT_ID"]))
    assert cli.main(["sync", "customers", "--partition", day, "--diff"]) == 2
    assert "use it with --dry-run" in capsys.readouterr().err
    assert cli.main(["sync", "customers", "--all", "--dry-run", "--diff"]) == 2
    assert len(requests_of(sandbox, env["REPLENIT_TENANT_ID"])) == sent
