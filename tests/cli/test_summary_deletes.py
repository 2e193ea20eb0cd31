"""The summary's deleted line: a connector's soft-deleted rows of records Replenit never held (Fivetran's
`_fivetran_deleted` before the first load) are counted in rows_deleted with no DELETE sent; the line
says so instead of "deleted 0 records (2 rows)", and is aligned with the lines above it."""

from replenit_pipelines.console.summary import SyncSummary, sync_summary

COUNTS = {"rows_read": 911, "rows_delivered": 908, "records_accepted": 908, "records_new": 908, "rows_quarantined": 1,
          "rows_deleted": 2, "records_deleted": 0, "requests_total": 1}


def line(lines: list[str], label: str) -> str:
    return next(x for x in lines if x.strip().startswith(label))


def test_soft_deleted_rows_of_records_never_held_are_explained_not_shown_as_rows_of_no_record():
    lines = sync_summary(SyncSummary("customers", "--all", "cli-1", COUNTS))
    deleted = line(lines, "deleted")
    assert deleted.startswith("  deleted        0 records (2 rows flagged deleted in the source;"), deleted
    assert "never held needs no DELETE" in deleted
    assert deleted.index("0 records") == line(lines, "delivered").index("908 rows")  # one column, as the other lines


def test_a_dry_run_says_to_delete_in_the_same_column_and_no_rows_no_parenthesis():
    lines = sync_summary(SyncSummary("orders", "--all", "cli-2", {**COUNTS, "dry_run": True, "rows_deleted": 0,
                                                                   "records_to_delete": 3, "rows_planned": 5}))
    to_delete = line(lines, "to delete")
    assert to_delete == "  to delete      3 records", to_delete


def test_a_mirror_run_says_its_deletes_were_of_absent_records_not_of_the_rows_flagged():
    # Saleor: a --mirror reconciliation deletes user 6 (removed from the warehouse) while two rows
    # flagged deleted belong to records Replenit does not hold (one deactivated before the first
    # load, one deleted yesterday). Before, "deleted 1 record (2 rows flagged deleted ...)" read as
    # one of those two rows having been deleted.
    lines = sync_summary(SyncSummary("customers", "--all --mirror", "cli-3", {
        **COUNTS, "records_deleted": 1, "records_absent": 1, "records_flagged_deleted": 0}))
    deleted = line(lines, "deleted")
    assert deleted.startswith("  deleted        1 record (1 absent from the source; 2 rows flagged deleted in the source;"), deleted
    assert "never held needs no DELETE" in deleted


def test_a_partition_that_deletes_the_records_its_rows_flag_does_not_say_they_needed_no_delete():
    # Saleor: user 5 deactivated, its one row read by the day's partition and its DELETE sent.
    lines = sync_summary(SyncSummary("customers", "2026-12-07", "cli-4", {
        **COUNTS, "rows_deleted": 1, "records_deleted": 1}))
    assert line(lines, "deleted") == "  deleted        1 record (flagged deleted in the source: 1 row)"


def test_the_superseded_line_says_how_many_were_tied_rather_than_older():
    """A join that fans out (a variant's price per channel) supersedes rows of the record's newest
    time: the summary called all of them older versions, the tie warning going to stderr alone."""
    counts = {**COUNTS, "rows_deleted": 0, "rows_superseded": 226, "rows_tied": 224}
    assert line(sync_summary(SyncSummary("products", "--all", "cli-4", counts)), "superseded") == (
        "  superseded     226 rows (older versions of a record read in the same run; 224 of them tied: of the record's newest "
        "time, differing from the row sent)")
    counts["rows_tied"] = 0
    assert line(sync_summary(SyncSummary("products", "--all", "cli-5", counts)), "superseded").endswith("in the same run)")


def test_the_superseded_line_says_how_many_were_merged_rather_than_older():
    """A customer the tenant merges into another (another CustomerId, the same email) is no older
    version of the one sent (the Odoo newcomer read 'older versions' beside the merge warning)."""
    counts = {**COUNTS, "rows_deleted": 0, "rows_superseded": 3, "rows_merged": 1}
    assert line(sync_summary(SyncSummary("customers", "--all", "cli-8", counts)), "superseded") == (
        "  superseded     3 rows (older versions of a record read in the same run; 1 of them merged: of another CustomerId "
        "with the email of the one sent)")


def test_the_quarantined_line_says_how_many_records_its_rows_are_when_records_have_several():
    """An order with a bad line is quarantined whole: 26 rows of 10 orders, while the top reasons and
    the quarantine table count the 10 (the Saleor newcomer read 26 against 10 as rows missing a reason)."""
    counts = {**COUNTS, "rows_deleted": 0, "rows_read": 1539, "rows_quarantined": 26, "records_quarantined": 10}
    assert line(sync_summary(SyncSummary("orders", "--all", "cli-6", counts)), "quarantined").endswith(
        "not sent: invalid, each with its reason (10 records: a record goes whole or not at all)")
    counts.update(rows_quarantined=10)  # one row a record: nothing to explain
    assert line(sync_summary(SyncSummary("orders", "--all", "cli-7", counts)), "quarantined").endswith("each with its reason")
