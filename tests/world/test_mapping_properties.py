"""Property tests on mapping shapes (issue 22 item 5): generated warehouses that vary what real ones
vary, synced by `replenit sync ENTITY --all` into the sandbox; every record the sandbox stores
equals what an independent reference computes from the rows (plain Python below, from the
documented rules: docs/configuration.md, shared/replenit-api.md; never the package's mapping code),
every other record is quarantined with the reason the reference gives, and a second run of the
unchanged warehouse sends nothing.

What varies: customers sharing an email (one customer to the tenant: merged), emails the contract
refuses (no identity: the CustomerId is), emails in other case and with spaces, NULL and blank ids,
over-long ids (no identity) and names, a customer's history (SCD-2 rows: the newest wins), window
values in mixed timestamp forms (UTC, offsets, naive in the mapping's zone, NULL); orders with their
own history beside normalized lines in random order, line keys equal to the order's id, one line
key in several orders, versions of a line (its own update time, or none: its order's), lines
without a key (their order quarantined: `required` on OrderItems.key), orphan lines (undated too), orders without lines, lines without a price or product, bad quantities and currencies, and
order dates in every form, date-only and unparsable included.

Example counts follow the hypothesis profile (tests/world/conftest.py): `ci` by default, small and
derandomized; REPLENIT_HYPOTHESIS_PROFILE=thorough for hundreds.
"""

import contextlib
import io
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import httpx
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

ZONE = ZoneInfo("Europe/Berlin")  # the mappings' timezone: naive values are read in it
BASE = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # November: no daylight-saving change near
CUSTOMERS_MAPPING = """\
timezone: Europe/Berlin
customers:
  source: {table: customers, window_column: {column: updated_at, format: iso8601}}
  fields: {CustomerId: id, Email: email, Name: name}
"""
ORDERS_MAPPING = """\
timezone: Europe/Berlin
orders:
  source: {table: orders, window_column: updated_at}
  fields: {OrderId: order_id, CustomerId: customer_id, Currency: currency, OrderDate: ordered_at}
  OrderItems:
    source: {table: order_lines, window_column: updated_at}
    parent_key: order_id
    key: line_id
    fields: {ProductId: product_id, Quantity: qty, Price: price}
"""


# -- the run: a fresh tenant and state folder per example, `replenit sync` in process -------------------


class Run:
    def __init__(self, sandbox, work: Path, mapping: str, mp: pytest.MonkeyPatch):
        self.sandbox = sandbox
        self.tenant, key = sandbox.add_tenant()
        work.mkdir(parents=True)
        (work / "mapping.yaml").write_text(mapping)
        self.warehouse = work / "warehouse.duckdb"
        self.state = work / "state"
        for name, value in {"REPLENIT_BASE_URL": sandbox.url, "REPLENIT_TENANT_ID": self.tenant, "REPLENIT_API_KEY": key,
                            "REPLENIT_WAREHOUSE": str(self.warehouse), "REPLENIT_MAPPING": str(work / "mapping.yaml"),
                            "REPLENIT_STATE_DIR": str(self.state), "REPLENIT_LIMITS": "off", "REPLENIT_KEY_NAME": "properties"}.items():
            mp.setenv(name, value)
        mp.delenv("REPLENIT_STATE_URL", raising=False)
        mp.delenv("REPLENIT_CUSTOMER_PRIORITY", raising=False)

    def table(self, name: str, columns: str, rows: list[tuple]) -> None:
        with duckdb.connect(str(self.warehouse)) as con:
            con.execute(f"CREATE TABLE {name} ({columns})")
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                con.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)  # noqa: S608 - the test's own names

    def requests(self) -> int:
        return sum(self.tenant in r["path"] for r in httpx.get(f"{self.sandbox.url}/_sandbox/requests").json())

    def sync(self, entity: str) -> tuple[int, dict, int]:
        """`replenit sync ENTITY --all --json`: exit code, counts, requests it sent."""
        from replenit_pipelines.cli import main

        before = self.requests()
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["sync", entity, "--all", "--json"])
        assert out.getvalue(), err.getvalue()[-3000:]
        return code, json.loads(out.getvalue()), self.requests() - before

    def stored(self, entity: str) -> dict[str, dict]:
        """identity -> record as stored, members the API reads as absent (null) left out."""
        records = httpx.get(f"{self.sandbox.url}/_sandbox/records/{self.tenant}/{entity}").json()
        return {r["key"]: without_nulls(r["record"]) for r in records}

    def quarantine(self) -> list[tuple[str, str, str]]:
        with duckdb.connect(str(self.state / "state.duckdb"), read_only=True) as con:
            return con.execute("SELECT record_id, rule, field FROM quarantine").fetchall()


def without_nulls(value):
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


@contextlib.contextmanager
def run_for(sandbox, tmp_path_factory, mapping: str):
    with pytest.MonkeyPatch.context() as mp:
        yield Run(sandbox, tmp_path_factory.mktemp("prop") / uuid.uuid4().hex[:8], mapping, mp)


# -- the reference: the documented rules, in plain Python ----------------------------------------------


def blank_to_none(value: str | None) -> str | None:
    """Blank (empty, or whitespace as str.strip sees it) is no value."""
    return None if value is None or value.strip() == "" else value


VALID_EMAILS = {"ann@example.com", "Ann@Example.com", "bob@example.com", "BOB@EXAMPLE.COM", "zoë@example.com"}
EMAILS = [*VALID_EMAILS, " ann@example.com ", "@example.com", "ann at example.com", "ann@", None, "", "  "]


def timestamp_text(form: str, instant: datetime) -> str | None:
    """One instant written as real exports write it."""
    local = instant.astimezone(ZONE)
    return {
        "utc": instant.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "offset": local.strftime("%Y-%m-%dT%H:%M:%S+01:00"),  # Berlin is UTC+1 in November
        "utc-millis": instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z",
        "naive": local.strftime("%Y-%m-%d %H:%M:%S"),  # the mapping's timezone
        "naive-T": local.strftime("%Y-%m-%dT%H:%M"),
        "null": None,
    }[form]


def written(form: str, instant: datetime) -> datetime:
    """The instant `timestamp_text(form, instant)` says: to the millisecond, the second or the minute."""
    precision = {"utc-millis": timedelta(milliseconds=1), "naive-T": timedelta(minutes=1)}.get(form, timedelta(seconds=1))
    return instant - (instant - BASE) % precision


def api_timestamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def newest(rows: list[dict]) -> dict:
    """The newest row by its time (None oldest), then by its place in the source."""
    return max(rows, key=lambda r: (r["ts"] is not None, r["ts"] or BASE, r["n"]))


def customers_reference(raw: list[dict]) -> tuple[dict[str, dict], set[tuple[str, str, str]], int]:
    """(identity -> record the tenant must store, {(record id, rule, field)} quarantined, rows
    superseded) under the tenant's default priority, email."""
    rows = []
    for n, r in enumerate(raw):
        cid, email, name = blank_to_none(r["id"]), blank_to_none(r["email"]), blank_to_none(r["name"])
        email = email.strip() if email is not None else None  # emails are trimmed
        cid_ok = cid is not None and len(cid) <= 100
        email_ok = email in VALID_EMAILS
        identity = f"email:{email.lower()}" if email_ok else (f"customerid:{cid}" if cid_ok else None)
        rows.append({"n": n, "ts": r["ts"], "cid": cid, "email": email, "name": name, "cid_ok": cid_ok, "email_ok": email_ok,
                     "identity": identity, "groups": identity if (cid is None or cid_ok) else None})
    superseded: set[int] = set()
    # One CustomerId is one customer: its newest row is its only version.
    for cid in {r["cid"] for r in rows if r["cid_ok"]}:
        group = [r for r in rows if r["cid_ok"] and r["cid"] == cid]
        superseded |= {r["n"] for r in group} - {newest(group)["n"]}
    # Then rows the tenant matches as one customer (an email shared by several ids: merged).
    left = [r for r in rows if r["n"] not in superseded]
    for identity in {r["groups"] for r in left if r["groups"]}:
        group = [r for r in left if r["groups"] == identity]
        superseded |= {r["n"] for r in group} - {newest(group)["n"]}
    expected, quarantined = {}, set()
    for r in rows:
        if r["n"] in superseded:
            continue
        reasons = []
        if r["email"] is not None and not r["email_ok"]:
            reasons.append(("email", "Email"))
        if r["cid"] is not None and not r["cid_ok"]:
            reasons.append(("max_length", "CustomerId"))
        if r["name"] is not None and len(r["name"]) > 100:
            reasons.append(("max_length", "Name"))
        if r["cid"] is None and r["email"] is None:
            reasons.append(("one_of_required", "CustomerId, Email"))
        if reasons:
            shown = r["identity"] or f"row {r['n']}"
            quarantined |= {(shown, rule, field) for rule, field in reasons}
            continue
        expected[r["identity"]] = {k: v for k, v in (("CustomerId", r["cid"]), ("Email", r["email"]), ("Name", r["name"]))
                                   if v is not None}
    return expected, quarantined, len(superseded)


customer_rows = st.lists(st.fixed_dictionaries({
    "id": st.sampled_from(["c1", "c2", "c3", "c4", "c5", None, "", "  ", "c" * 101]),
    "email": st.sampled_from(EMAILS),
    "name": st.sampled_from(["Ann", "Bob", "Zoë", None, "", "N" * 101]),
    "form": st.sampled_from(["utc", "offset", "utc-millis", "naive", "naive-T", "null"]),
}), min_size=1, max_size=14)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=customer_rows, order=st.randoms(use_true_random=False))
def test_customers_stored_as_the_reference_computes_or_quarantined_and_an_unchanged_rerun_sends_nothing(
        sandbox, tmp_path_factory, raw, order):
    minutes = list(range(len(raw)))
    order.shuffle(minutes)  # every row its own instant: a row's version is never a tie
    for r, m in zip(raw, minutes, strict=True):
        r["ts"] = None if r["form"] == "null" else BASE + timedelta(minutes=m, seconds=m % 7)
    # Two undated rows of one group are ordered by their place in the read: not a warehouse's contract.
    expected, quarantined, superseded = customers_reference(raw)
    for key in ("id", "email"):
        values = [blank_to_none(r[key]) for r in raw if r["ts"] is None]
        assume(len([v for v in values if v]) == len({(v or "").strip().lower() for v in values if v}))
    with run_for(sandbox, tmp_path_factory, CUSTOMERS_MAPPING) as run:
        run.table("customers", "id VARCHAR, email VARCHAR, name VARCHAR, updated_at VARCHAR",
                  [(r["id"], r["email"], r["name"], timestamp_text(r["form"], r["ts"]) if r["ts"] else None) for r in raw])
        code, counts, requests = run.sync("customers")
        assert run.stored("customers") == expected
        got = run.quarantine()
        assert {q for q in got if not q[0].startswith("row ")} == {q for q in quarantined if not q[0].startswith("row ")}
        assert sorted(q[1:] for q in got if q[0].startswith("row ")) == sorted(q[1:] for q in quarantined if q[0].startswith("row "))
        assert counts["rows_read"] == len(raw) and counts["rows_superseded"] == superseded
        assert counts["rows_delivered"] + counts["rows_quarantined"] + superseded == len(raw)
        assert code == 0  # quarantined rows are reported, not failed (docs/cli.md)
        again, counts, requests = run.sync("customers")
        assert requests == 0 and counts["records_sent"] == 0 and counts["records_unchanged"] == len(expected)


# -- orders: normalized lines beside an order table that keeps history -------------------------------

CURRENCIES = {"EUR", "USD"}


def order_date(form: str, instant: datetime) -> str | None:
    if form == "date":
        return instant.strftime("%Y-%m-%d")  # only a day: refused (docs/configuration.md)
    if form == "garbage":
        return "yesterday"
    return timestamp_text(form, instant)


def orders_reference(orders: list[dict], lines: list[dict]) -> tuple[dict[str, dict], set[tuple[str, str, str]], int, int, int]:
    """(order id -> record the tenant must store, {(order id, rule, field)} quarantined, orphan
    rows (quarantined without an identity), rows read, rows superseded)."""
    latest = {}
    for o in orders:  # an order table with history: each order's newest version is the order
        if o["order_id"] not in latest or o["ts"] > latest[o["order_id"]]["ts"]:
            latest[o["order_id"]] = o
    orphans = [li for li in lines if li["order_id"] not in latest]
    by_order: dict[str, list[dict]] = {}
    for li in lines:
        if li["order_id"] in latest:
            by_order.setdefault(li["order_id"], []).append(li)
    rows_read = len(lines) + sum(1 for oid in latest if oid not in by_order)
    superseded = 0
    expected, quarantined = {}, set()
    for oid, parent in latest.items():
        versions: dict[str, list[dict]] = {}
        for n, li in enumerate(by_order.get(oid, [])):
            versions.setdefault(li["line_id"] or f"no key {n}", []).append(li)  # a NULL key identifies no line
        # A line's versions: the newest by its own time, or its order's when it has none.
        current = [max(vs, key=lambda li: li["ts"] or parent["ts"]) for vs in versions.values()]
        superseded += sum(len(vs) for vs in versions.values()) - len(current)
        currency = parent["currency"].strip().upper() if blank_to_none(parent["currency"]) else None
        reasons = set()
        if currency is None:
            reasons.add(("required", "Currency"))
        elif currency not in CURRENCIES:
            reasons.add(("currency", "Currency"))
        if parent["form"] in ("date", "garbage"):
            reasons.add(("timestamp", "OrderDate"))
        for li in current:
            if li["line_id"] is None:
                reasons.add(("required", "OrderItems.key"))
            if li["product_id"] is None:
                reasons.add(("required", "OrderItems.ProductId"))
            if li["qty"] < 1:
                reasons.add(("range", "OrderItems.Quantity"))
            if li["price"] is None:
                reasons.add(("total_underivable", "TotalRevenue"))
        if reasons:
            quarantined |= {(oid, rule, field) for rule, field in reasons}
            continue
        items = sorted(current, key=lambda li: (len(li["line_id"]), li["line_id"]))
        record = {"OrderId": oid, "CustomerId": parent["customer_id"], "Currency": currency,
                  "OrderDate": api_timestamp(written(parent["form"], parent["ordered"])) if parent["form"] != "null" else None,
                  "OrderItems": [{"ProductId": li["product_id"], "Quantity": li["qty"], "Price": li["price"]} for li in items],
                  "TotalRevenue": round(sum(li["qty"] * li["price"] for li in items), 6),
                  "TotalQuantity": sum(li["qty"] for li in items),
                  "UniqueQuantity": len({li["product_id"] for li in items})}
        expected[oid] = without_nulls(record)
    return expected, quarantined, len(orphans), rows_read, superseded


# Valid values drawn more often than bad ones, so that most orders are sent whole and the
# derived fields (totals, distinct products over repeated ones, line order) meet many of them.
order_rows = st.lists(st.fixed_dictionaries({
    "order_id": st.sampled_from(["o1", "o2", "o3", "o4"]),
    "customer_id": st.sampled_from(["c1", "c2", None]),
    "currency": st.sampled_from(["EUR", "EUR", "EUR", "USD", " eur", "ABC", None]),
    "form": st.sampled_from(["utc", "offset", "utc-millis", "naive", "naive-T", "null"] * 2 + ["date", "garbage"]),
}), max_size=8)
line_rows = st.lists(st.fixed_dictionaries({
    "line_id": st.sampled_from(["1", "2", "10", "o1", "o2", "1", "2", None]),  # "o1": a line key equal to its order's id
    "order_id": st.sampled_from(["o1", "o1", "o2", "o2", "o3", "o4", "o9", None]),  # o9 (and NULL): no such order
    "product_id": st.sampled_from(["p1", "p1", "p1", "p2", "p2", "p3"] * 2 + [None]),
    "qty": st.sampled_from([1, 1, 2, 3, 5] * 2 + [0, -1]),
    "price": st.sampled_from([10.0, 2.5, 0.1, 0.0, 19.99] * 2 + [None]),
    "dated": st.booleans(),  # a line with its own update time, or none (its order's)
}), max_size=14)


def line(line_id, order_id, product_id, qty, price, dated=True):
    return {"line_id": line_id, "order_id": order_id, "product_id": product_id, "qty": qty, "price": price, "dated": dated}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(orders=order_rows, lines=line_rows, order=st.randoms(use_true_random=False))
# Always, beside the generated ones: an order of three versions with lines "10", "2" and "o1" (its own
# id) in scan order, two of one product, a line in two versions (one undated), an order without lines.
@example(orders=[{"order_id": "o1", "customer_id": "c1", "currency": "EUR", "form": "utc"},
                 {"order_id": "o1", "customer_id": "c2", "currency": " eur", "form": "naive-T"},
                 {"order_id": "o2", "customer_id": None, "currency": "USD", "form": "null"},
                 {"order_id": "o1", "customer_id": "c1", "currency": "EUR", "form": "offset"}],
         lines=[line("10", "o1", "p1", 2, 2.5), line("2", "o1", "p2", 3, 0.1), line("o1", "o1", "p1", 1, 19.99),
                line("2", "o1", "p2", 5, 0.1, dated=False)],
         order=random.Random(7))
def test_normalized_orders_stored_as_the_reference_computes_or_quarantined_and_an_unchanged_rerun_sends_nothing(
        sandbox, tmp_path_factory, orders, lines, order):
    minutes = list(range(len(orders) + len(lines)))
    order.shuffle(minutes)  # every dated row its own instant
    for o, m in zip(orders, minutes, strict=False):
        o["ts"] = BASE + timedelta(minutes=m)
        o["ordered"] = BASE - timedelta(hours=m, milliseconds=37 * m)
    for li, m in zip(lines, minutes[len(orders):], strict=True):
        li["ts"] = BASE + timedelta(minutes=m) if li["dated"] else None
    # Two undated versions of one line tie on their order's time: their place in a scan decides.
    undated = [(li["order_id"], li["line_id"]) for li in lines if li["ts"] is None and li["line_id"] is not None]
    assume(len(undated) == len(set(undated)))
    expected, quarantined, orphans, rows_read, superseded = orders_reference(orders, lines)
    with run_for(sandbox, tmp_path_factory, ORDERS_MAPPING) as run:
        run.table("orders", "order_id VARCHAR, customer_id VARCHAR, currency VARCHAR, ordered_at VARCHAR, updated_at TIMESTAMP",
                  [(o["order_id"], o["customer_id"], o["currency"], order_date(o["form"], o["ordered"]),
                    o["ts"].replace(tzinfo=None)) for o in orders])
        order.shuffle(lines)  # the lines table in any order
        run.table("order_lines", "line_id VARCHAR, order_id VARCHAR, product_id VARCHAR, qty BIGINT, price DOUBLE, updated_at TIMESTAMP",
                  [(li["line_id"], li["order_id"], li["product_id"], li["qty"], li["price"],
                    li["ts"].replace(tzinfo=None) if li["ts"] else None) for li in lines])
        code, counts, requests = run.sync("orders")
        assert run.stored("orders") == expected
        got = run.quarantine()
        assert {q for q in got if not q[0].startswith("row ")} == quarantined
        # An orphan line (no such order) is quarantined on its own, without an identity, for its missing order.
        assert {q[0] for q in got if q[0].startswith("row ")} == {q[0] for q in got if q[0].startswith("row ") and q[1:] == ("required", "OrderId")}
        assert len({q[0] for q in got if q[0].startswith("row ")}) == orphans
        assert (counts["rows_read"], counts["rows_superseded"]) == (rows_read, superseded)
        assert counts["rows_delivered"] + counts["rows_quarantined"] + superseded == rows_read
        assert requests == (1 if expected else 0)
        again, counts, requests = run.sync("orders")
        assert requests == 0 and counts["records_sent"] == 0 and counts["records_unchanged"] == len(expected)


# -- known defects met by the generated warehouses, pinned as plain examples --------------------------

LINE_COLUMNS = "line_id VARCHAR, order_id VARCHAR, product_id VARCHAR, qty BIGINT, price DOUBLE, updated_at TIMESTAMP"
ORDER_COLUMNS = "order_id VARCHAR, customer_id VARCHAR, currency VARCHAR, ordered_at VARCHAR, updated_at TIMESTAMP"
T0 = datetime(2026, 11, 26, 9, 30)


def test_an_undated_line_without_an_order_id_is_read_by_a_reconciliation(sandbox, tmp_path_factory):
    """A reconciliation reads the whole source, NULL window values included: an orphan line whose
    order id is NULL and which has no update time is read and quarantined (`required` on OrderId),
    like the dated one beside it. Found: `reconcile orders: chunk 1/1, 1/2 rows`, rows_read 1, and
    the other row in no count at all."""
    with run_for(sandbox, tmp_path_factory, ORDERS_MAPPING) as run:
        run.table("orders", ORDER_COLUMNS, [])
        run.table("order_lines", LINE_COLUMNS, [("1", None, "p1", 1, 10.0, None), ("2", None, "p1", 1, 10.0, T0)])
        code, counts, _ = run.sync("orders")
        assert counts["rows_read"] + counts.get("rows_without_window_value", 0) == 2
        assert counts["rows_read"] == counts["rows_quarantined"] == 2


def test_lines_with_a_null_key_are_never_versions_of_each_other(sandbox, tmp_path_factory):
    """`key: line_id` identifies a line; a NULL key identifies none. Two lines of one order with NULL
    keys and different products were taken as two versions of one line: the older dropped as
    superseded, the order sent without it (a total of 18.0 instead of 28.0). The order is
    quarantined (`required` on `OrderItems.key`: a line without its key cannot be told from another
    line's version) and the keyed order beside it sent; never one line silently less."""
    with run_for(sandbox, tmp_path_factory, ORDERS_MAPPING) as run:
        run.table("orders", ORDER_COLUMNS, [("o1", "c1", "EUR", None, T0), ("o2", "c1", "EUR", None, T0)])
        run.table("order_lines", LINE_COLUMNS, [(None, "o1", "p2", 2, 5.0, T0), (None, "o1", "p3", 4, 2.0, T0 + timedelta(hours=1)),
                                                ("1", "o2", "p2", 1, 5.0, T0), ("1", "o2", "p2", 3, 5.0, T0 + timedelta(hours=1))])
        code, counts, _ = run.sync("orders")
        assert counts["rows_superseded"] == 1  # o2's line 1, its older version
        assert (counts["rows_read"], counts["rows_quarantined"], counts["rows_delivered"]) == (4, 2, 1)
        assert set(run.quarantine()) == {("o1", "required", "OrderItems.key")}
        stored = run.stored("orders")
        assert "o1" not in stored and [i["Quantity"] for i in stored["o2"]["OrderItems"]] == [3]


def test_a_timestamp_field_without_seconds_is_normalized_like_a_window_value():
    """ISO 8601 allows leaving the seconds out, and window columns take "2026-11-26T11:00": an
    OrderDate written so was quarantined as `timestamp` (found by the orders property above)."""
    import polars as pl

    from replenit_pipelines.lib.validation.normalize import _normalize_timestamp_strings

    values = pl.Series(["2026-11-26T11:00", "2026-11-26 11:00", "2026-11-26T11:00+02:00", "2026-11-26T11:00Z", "2026-11-26", "11:00"])
    assert _normalize_timestamp_strings(values, "Europe/Berlin").to_list() == [
        "2026-11-26T10:00:00.000Z", "2026-11-26T10:00:00.000Z", "2026-11-26T09:00:00.000Z", "2026-11-26T11:00:00.000Z",
        "2026-11-26", "11:00"]  # a day alone and a time alone stay refused
