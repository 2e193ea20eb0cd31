"""Window bounds: [start, end) exactly (a row on a boundary is read by one window, never two), and
naive timestamps read in the source's own time zone, for every kind of source."""

from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl
import pytest

from replenit_pipelines.lib.warehouse import Warehouse, entity_mapping_from_dict
from replenit_pipelines.lib.warehouse.windows import window_value

H = datetime(2026, 11, 26, 10)  # naive: the warehouse's wall clock
EPS = timedelta(microseconds=1)
BOUNDARY_ROWS = {  # id -> naive timestamp
    "before": H - EPS,
    "at_start": H,
    "inside": H + timedelta(minutes=30),
    "last_instant": H + timedelta(hours=1) - EPS,
    "at_end": H + timedelta(hours=1),
    "after_end": H + timedelta(hours=1) + EPS,
}


def mapping(kind: str, location: str, timezone: str = "UTC"):
    source = {kind: location, "window_column": "updated_at", "timezone": timezone}
    return entity_mapping_from_dict("customers", {"source": source, "fields": {"CustomerId": "id"}})


def source(tmp_path, kind: str, rows: dict[str, datetime], tz_aware: bool = False):
    frame = pl.DataFrame({"id": list(rows), "updated_at": list(rows.values())},
                         schema={"id": pl.String, "updated_at": pl.Datetime("us", "UTC" if tz_aware else None)})
    if kind == "path":
        path = tmp_path / "customers.parquet"
        frame.write_parquet(path)
        return Warehouse(None), str(path)
    db = tmp_path / "wh.duckdb"
    with duckdb.connect(str(db)) as con:
        col_type = "TIMESTAMPTZ" if tz_aware else "TIMESTAMP"
        con.execute(f"CREATE TABLE customers (id VARCHAR, updated_at {col_type})")
        con.executemany("INSERT INTO customers VALUES (?, ?)", [
            (k, v.replace(tzinfo=UTC) if tz_aware else v) for k, v in rows.items()])
    return Warehouse(db), "customers"


def ids(frame: pl.DataFrame) -> set[str]:
    return set(frame["id"].to_list())


@pytest.mark.parametrize("kind", ["table", "path"])
@pytest.mark.parametrize("tz_aware", [False, True])
def test_a_window_is_start_inclusive_and_end_exclusive(tmp_path, kind, tz_aware):
    wh, location = source(tmp_path, kind, BOUNDARY_ROWS, tz_aware)
    m = mapping(kind, location)
    start = H.replace(tzinfo=UTC)
    got = ids(wh.read(m, start, start + timedelta(hours=1)))
    assert got == {"at_start", "inside", "last_instant"}
    # Adjacent windows read every row exactly once: the row on the boundary is not sent twice.
    seen: list[str] = []
    for i in range(-1, 2):
        seen += wh.read(m, start + timedelta(hours=i), start + timedelta(hours=i + 1))["id"].to_list()
    assert sorted(seen) == sorted(BOUNDARY_ROWS)


def test_a_query_source_with_its_own_window_reads_each_boundary_row_once(tmp_path):
    wh, _ = source(tmp_path, "table", BOUNDARY_ROWS)
    m = mapping("query", "SELECT * FROM customers WHERE updated_at >= $start AND updated_at < $end")
    start = H.replace(tzinfo=UTC)
    assert ids(wh.read(m, start, start + timedelta(hours=1))) == {"at_start", "inside", "last_instant"}


@pytest.mark.parametrize("kind", ["table", "path"])
@pytest.mark.parametrize("timezone,utc_hour,in_utc_ten", [
    ("Europe/Berlin", 9, {"eleven"}), ("America/New_York", 15, set()), ("Asia/Kolkata", 4, set()),
])
def test_naive_timestamps_are_read_in_the_sources_time_zone(tmp_path, kind, timezone, utc_hour, in_utc_ten):
    # 10:00-10:59 local wall clock, in late November: Berlin UTC+1, New York UTC-5, Kolkata UTC+5:30.
    local_rows = {"ten": H, "ten_thirty": H + timedelta(minutes=30), "eleven": H + timedelta(hours=1)}
    wh, location = source(tmp_path, kind, local_rows)
    m = mapping(kind, location, timezone)
    if timezone == "Asia/Kolkata":  # 10:00 IST is 04:30 UTC: the UTC hour 04:00-05:00 holds 10:00 only
        got = ids(wh.read(m, datetime(2026, 11, 26, 4, tzinfo=UTC), datetime(2026, 11, 26, 5, tzinfo=UTC)))
        assert got == {"ten"}
        assert ids(wh.read(m, datetime(2026, 11, 26, 10, tzinfo=UTC), datetime(2026, 11, 26, 11, tzinfo=UTC))) == in_utc_ten
        return
    start = datetime(2026, 11, 26, utc_hour, tzinfo=UTC)
    assert ids(wh.read(m, start, start + timedelta(hours=1))) == {"ten", "ten_thirty"}
    # Read as UTC, the UTC hour 10:00-11:00 would hold ten and ten_thirty; in the source's zone it does not.
    assert ids(wh.read(m, datetime(2026, 11, 26, 10, tzinfo=UTC), datetime(2026, 11, 26, 11, tzinfo=UTC))) == in_utc_ten


@pytest.mark.parametrize(("text", "utc"), [
    ("2026-11-26", datetime(2026, 11, 25, 23, tzinfo=UTC)),  # a date alone: midnight where the source lives
    (" 2026-11-26 ", datetime(2026, 11, 25, 23, tzinfo=UTC)),
    ("2026-11-26 10:30", datetime(2026, 11, 26, 9, 30, tzinfo=UTC)),
    ("2026-11-26T10:30:15.250", datetime(2026, 11, 26, 9, 30, 15, 250_000, tzinfo=UTC)),
    ("2026-11-26T10:30:00Z", datetime(2026, 11, 26, 10, 30, tzinfo=UTC)),  # an offset wins over the source's zone
    ("2026-11-26T10:30+02:00", datetime(2026, 11, 26, 8, 30, tzinfo=UTC)),
    ("2024-02-30", None),  # no such day: unparsable, not the 1st of March
    ("26/11/2026", None),
])
def test_iso_8601_window_text_is_read_in_the_sources_time_zone_unless_it_has_an_offset(text, utc):
    frame = pl.DataFrame({"changed": [text]}).select(window_value("changed", "iso8601", pl.String, "Europe/Berlin"))
    assert frame["changed"].to_list() == [utc]


def test_a_window_over_iso_8601_text_is_start_inclusive_and_end_exclusive(tmp_path):
    # A converted window column: compared after conversion, not pushed into the scan.
    path = tmp_path / "customers.parquet"
    pl.DataFrame({"id": list(BOUNDARY_ROWS), "updated_at": [v.isoformat() for v in BOUNDARY_ROWS.values()]}).write_parquet(path)
    m = entity_mapping_from_dict("customers", {
        "source": {"path": str(path), "window_column": {"column": "updated_at", "format": "iso8601"}},
        "fields": {"CustomerId": "id"}})
    start = H.replace(tzinfo=UTC)
    assert ids(Warehouse(None).read(m, start, start + timedelta(hours=1))) == {"at_start", "inside", "last_instant"}


@pytest.mark.parametrize(("value", "dtype", "utc"), [
    # São Paulo skipped 00:00-01:00 on 2017-10-15: the day starts at 01:00 (-02:00), as a DATE or a
    # date alone in text; before, both were unparsable and no partition read the day's rows.
    (date(2017, 10, 15), pl.Date(), datetime(2017, 10, 15, 3, tzinfo=UTC)),
    ("2017-10-15", pl.String(), datetime(2017, 10, 15, 3, tzinfo=UTC)),
    (date(2017, 10, 14), pl.Date(), datetime(2017, 10, 14, 3, tzinfo=UTC)),
    ("2017-10-15 00:30", pl.String(), None),  # a wall time that did not exist: no instant
])
def test_a_day_whose_midnight_the_timezone_skipped_starts_at_its_first_wall_time(value, dtype, utc):
    frame = pl.DataFrame({"changed": [value]}, schema={"changed": dtype})
    assert frame.select(window_value("changed", "iso8601", dtype, "America/Sao_Paulo"))["changed"].to_list() == [utc]
