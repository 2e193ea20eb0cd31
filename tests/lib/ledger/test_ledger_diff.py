"""The diff stage (lib/ledger/diff.py) against a real ledger file."""

from contextlib import closing

import orjson
import polars as pl

from replenit_pipelines.lib.ledger import Ledger, diff, open_ledger
from replenit_pipelines.lib.validation import payload_parts

BASE_URL, TENANT = "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def orders(names: dict[str, str], lines: dict[str, int]) -> pl.DataFrame:
    keys = list(names)
    return pl.DataFrame({"OrderId": keys, "Status": [names[k] for k in keys], "__key": keys,
                         "__rows": pl.Series([lines[k] for k in keys], dtype=pl.UInt32)})


def send_and_acknowledge(ledger: Ledger, records: pl.DataFrame, full_refresh: bool = False):
    parts = payload_parts(records)
    d = diff(records, parts, ledger.lookup(records["__key"]), full_refresh=full_refresh)
    ledger.acknowledge(d.send["__key"].to_list(), d.send["hash"].to_list(), "run", d.send["exact"].to_list())
    return d


def test_new_changed_unchanged_with_rows_accounting(tmp_path, state_backend):  # SQLite and Postgres
    lines = {"o1": 3, "o2": 1, "o3": 2, "o4": 5}
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "orders")) as ledger:
        first = send_and_acknowledge(ledger, orders({"o1": "paid", "o2": "paid", "o3": "paid"}, lines))
        assert (first.records_new, first.records_changed, first.records_unchanged) == (3, 0, 0)
        assert first.rows_new == 6

        records = orders({"o1": "paid", "o2": "refunded", "o3": "paid", "o4": "paid"}, lines)
        parts = payload_parts(records)
        d = diff(records, parts, ledger.lookup(records["__key"]))
        assert d.send["__key"].to_list() == ["o2", "o4"]  # input order kept
        assert d.send["change"].cast(pl.String).to_list() == ["changed", "new"]
        assert d.positions == [1, 3]
        assert [parts[i] for i in d.positions] == [parts[1], parts[3]]
        assert (d.records_new, d.records_changed, d.records_unchanged) == (1, 1, 2)
        assert (d.rows_new, d.rows_changed, d.rows_unchanged) == (5, 1, 5)
        # Every row of the window is either sent or unchanged: the run's accounting closes.
        assert d.rows_new + d.rows_changed + d.rows_unchanged == records["__rows"].sum()


def test_unchanged_rerun_sends_nothing_and_full_refresh_sends_everything(tmp_path, state_backend):  # SQLite and Postgres
    records = orders({"o1": "paid", "o2": "paid"}, {"o1": 2, "o2": 1})
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "orders")) as ledger:
        send_and_acknowledge(ledger, records)
        again = diff(records, payload_parts(records), ledger.lookup(records["__key"]))
        assert again.send.height == 0 and again.records_unchanged == 2 and again.rows_unchanged == 3
        refresh = send_and_acknowledge(ledger, records, full_refresh=True)
        assert refresh.send["__key"].to_list() == ["o1", "o2"]
        assert (refresh.records_unchanged, refresh.records_refreshed, refresh.rows_unchanged, refresh.rows_refreshed) == (0, 2, 0, 3)
        assert refresh.full_refresh is True and again.full_refresh is False  # the diff says how it was asked
        assert refresh.send["hash"].to_list() == again_hashes(ledger, ["o1", "o2"])  # re-acknowledged as they are


def again_hashes(ledger: Ledger, ids: list[str]) -> list[bytes]:
    found = ledger.lookup(ids)
    return [found.filter(pl.col("identity") == i)["hash"][0] for i in ids]


def test_new_bytes_with_the_same_content_are_unchanged_and_restamped(tmp_path, state_backend):  # SQLite and Postgres
    records = orders({"o1": "paid"}, {"o1": 1})
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "orders")) as ledger:
        send_and_acknowledge(ledger, records)
        # Another serializer: other key order, spaces, an explicit null. Same record for the API.
        other = [orjson.dumps({"__": None, "Status": "paid", "OrderId": "o1"}).replace(b",", b", ")]
        d = diff(records, other, ledger.lookup(records["__key"]))
        assert d.send.height == 0 and d.records_unchanged == 1
        assert d.restamp["identity"].to_list() == ["o1"]
        ledger.restamp(d.restamp["identity"].to_list(), d.restamp["exact"].to_list())
        assert ledger.lookup(["o1"])["exact"][0] == d.restamp["exact"][0]


def test_a_record_without_identity_is_always_sent(tmp_path, state_backend):  # SQLite and Postgres
    records = pl.DataFrame({"OrderId": [None], "__key": pl.Series([None], dtype=pl.String), "__rows": [1]})
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "orders")) as ledger:
        d = send_and_acknowledge(ledger, records)
        assert d.records_new == 1 and ledger.size() == 0  # nothing to remember it by
        assert diff(records, payload_parts(records), ledger.lookup(records["__key"])).records_new == 1


def test_a_64_bit_identity_key_collision_sends_the_record_once_as_changed(tmp_path, state_backend):  # SQLite and Postgres
    # Two other identities' entries share o1's integer key (a forged 64-bit collision): o1 must be
    # neither duplicated nor taken as unchanged; it is sent once, as changed, and o2 as new.
    from replenit_pipelines.lib.ledger.hashing import hashes_as_int128, identity_keys

    records = orders({"o1": "paid", "o2": "paid"}, {"o1": 2, "o2": 1})
    parts = payload_parts(records)
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "orders")) as ledger:
        others = orders({"x1": "paid", "x2": "refunded"}, {"x1": 1, "x2": 1})
        ledger.acknowledge(["x1", "x2"], *(lambda d: (d.send["hash"].to_list(), "run", d.send["exact"].to_list()))(
            diff(others, payload_parts(others), ledger.lookup_keys(others["__key"]))))
        found = ledger.lookup(["x1", "x2"])
    forged = pl.DataFrame({"idkey": identity_keys(["o1", "o1"]), "hash": found["hash"],
                           "exact": hashes_as_int128(found["exact"])})
    d = diff(records, parts, forged)
    assert d.send["__key"].to_list() == ["o1", "o2"] and d.send["change"].to_list() == ["changed", "new"]
    assert (d.records_changed, d.records_new, d.records_unchanged, d.rows_changed) == (1, 1, 0, 2)


def test_lookup_keys_reads_the_same_entries_by_key_and_whole(tmp_path, state_backend):  # SQLite and Postgres
    ids = [f"customerid:{i}" for i in range(25_000)]
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "customers")) as ledger:
        ledger.acknowledge(ids[:21_000], [str(i).encode().ljust(16, b"h") for i in range(21_000)], "r",
                           [str(i).encode().ljust(16, b"e") for i in range(21_000)])
        ledger.compact()
        ledger.acknowledge(ids[:3], [b"n" * 16] * 3, "r2", [b"m" * 16] * 3)  # in the log, newest wins
        whole = ledger.lookup_keys(ids)  # above the scan threshold: the whole ledger
        by_key = ledger.lookup_keys(ids[:10])
    assert whole.height == 21_000 and whole.schema == by_key.schema
    assert whole.join(by_key, on="idkey", how="semi").sort("idkey").equals(by_key.sort("idkey"))
    assert by_key.filter(pl.col("hash") == b"n" * 16).height == 3


def test_an_incremental_run_refreshes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    records = orders({"o1": "paid", "o2": "paid"}, {"o1": 2, "o2": 1})
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "orders")) as ledger:
        first = send_and_acknowledge(ledger, records)
        again = diff(records, payload_parts(records), ledger.lookup(records["__key"]))
    assert (first.records_new, first.records_refreshed, first.rows_refreshed) == (2, 0, 0)
    assert (again.records_unchanged, again.records_refreshed, again.rows_refreshed) == (2, 0, 0)
