"""Rows of one record (or child, or CustomerId) and one time that say different things: one is sent,
chosen by content (never by the read's order), and the others are superseded though they are not
older. That there was a choice is counted (`rows_tied`, of rows_superseded) and said in words
(`tie_warning`): it is most often a join that fans out, as a Spree store's variant price joined
without choosing its currency (one row per currency)."""

from datetime import timedelta

from helpers import CUSTOMER_MAPPING, ORDER_MAPPING, PRODUCT_MAPPING, TS, customer_rows, order_rows, payloads, run

from replenit_pipelines.lib.stages.report import tie_warning


def variant(price: float, currency: str, at=TS, variant_id: str = "v1") -> dict:
    return {"product_id": "p1", "name": "Kettle", "variant_id": variant_id, "price": price, "currency": currency,
            "url": "https://shop.example/p1", "locale": "en", "updated_at": at}


def test_a_variant_priced_in_two_currencies_at_one_time_is_one_tied_row():
    p = run(PRODUCT_MAPPING, [variant(9.0, "USD"), variant(8.0, "EUR"), variant(5.0, "USD", variant_id="v2")])
    assert (p.rows_superseded, p.rows_tied) == (1, 1)
    assert p.tied_examples == [p.records["__key"][0]]
    [product] = payloads(p)
    assert len(product["ProductVariants"]) == 2  # one version of v1, whichever its content chose, and v2
    # the same choice whatever the read's order
    again = run(PRODUCT_MAPPING, [variant(8.0, "EUR"), variant(5.0, "USD", variant_id="v2"), variant(9.0, "USD")])
    assert payloads(again) == [product] and again.rows_tied == 1


def test_an_older_version_or_an_exact_duplicate_is_superseded_but_not_tied():
    older = run(PRODUCT_MAPPING, [variant(9.0, "USD", at=TS - timedelta(hours=1)), variant(8.0, "USD")])
    duplicate = run(PRODUCT_MAPPING, [variant(9.0, "USD"), variant(9.0, "USD")])
    assert (older.rows_superseded, older.rows_tied) == (1, 0)
    # two versions of one older time that differ, then a newer one: both older by time, neither tied
    earlier = TS - timedelta(hours=1)
    older_tie = run(PRODUCT_MAPPING, [variant(9.0, "USD", at=earlier), variant(8.0, "EUR", at=earlier), variant(7.0, "USD")])
    assert (older_tie.rows_superseded, older_tie.rows_tied) == (2, 0)
    assert (duplicate.rows_superseded, duplicate.rows_tied) == (1, 0)


def test_a_customers_two_rows_of_one_time_are_tied_and_two_customers_of_one_email_are_merged_not_tied():
    tied = run(CUSTOMER_MAPPING, [customer_rows(name="Ada"), customer_rows(name="Ada Lovelace")])  # c1 twice at TS
    assert (tied.rows_superseded, tied.rows_tied, tied.rows_merged) == (1, 1, 0)
    merged = run(CUSTOMER_MAPPING, [customer_rows(id="c1"), customer_rows(id="c2", name="Other")])  # one email, one time
    assert (merged.rows_superseded, merged.rows_merged, merged.rows_tied) == (1, 1, 0)


def test_the_warning_says_how_many_rows_what_it_means_and_masks_its_examples():
    assert tie_warning("customers 2026-11-26", 0, []) is None
    text = tie_warning("customers 2026-11-26", 2, ["email:ada@example.com"])
    assert text is not None and text.startswith("customers 2026-11-26: 2 rows were not sent because another row of the same record")
    assert "ada@example.com" not in text and "a join that fans out" in text
    # A history table (Fivetran's history mode) ties every change: the older version is closed in the
    # sync that writes the newer one, both at its _fivetran_synced. No join there: say what to read.
    assert "history table" in text and "WHERE _fivetran_active" in text


def test_a_guests_two_rows_of_one_time_are_tied_though_it_has_no_customer_id():
    """A customer known by its email alone (a guest: CustomerId NULL) is a record as much as an
    account: its two rows of one time that differ are a choice by content, not an older version."""
    guest = run(CUSTOMER_MAPPING, [customer_rows(id=None, name="Ada"), customer_rows(id=None, name="Ada Lovelace"),
                                   customer_rows(id="c9", email="bo@example.com")])
    assert (guest.rows_superseded, guest.rows_tied, guest.rows_merged) == (1, 1, 0)
    assert len(guest.tied_examples) == 1
    # a guest row of the email of an account, at its time: tied when it loses, a merge when the account does
    beside = run(CUSTOMER_MAPPING, [customer_rows(id=None), customer_rows(id="c1")])
    assert beside.rows_superseded == 1 == beside.rows_tied + beside.rows_merged
    # an account's rows superseded by another row of its email are merges, never tied (the guest's row may be)
    merged = run(CUSTOMER_MAPPING, [customer_rows(id="c1"), customer_rows(id="c2", name="Other"), customer_rows(id=None, name="Guest")])
    assert merged.rows_superseded == 2 == merged.rows_merged + merged.rows_tied and merged.rows_tied <= 1


def test_a_line_read_twice_is_not_tied_when_its_orders_other_lines_disagree_on_the_order():
    """An order whose two lines of one time carry two statuses is a choice by content of the order's
    fields (no row superseded: both lines are sent). A line read twice, alike, beside them said
    nothing else than the line sent: superseded, not tied. The same for a variant read twice."""
    rows = order_rows(2)
    rows[1]["status"] = "shipped"
    assert run(ORDER_MAPPING, rows).rows_superseded == 0
    twice = run(ORDER_MAPPING, [*rows, dict(rows[0])])
    assert (twice.rows_superseded, twice.rows_tied) == (1, 0)
    # a line of that order read twice with another quantity is tied
    other = run(ORDER_MAPPING, [*rows, {**rows[0], "qty": 9}])
    assert (other.rows_superseded, other.rows_tied) == (1, 1)
    named = [variant(9.0, "USD"), {**variant(5.0, "USD", variant_id="v2"), "name": "Kettle XL"}]
    assert run(PRODUCT_MAPPING, [*named, variant(9.0, "USD")]).rows_tied == 0
    # three rows of one variant and time, two of them alike: each one unlike the row sent is tied
    three = run(PRODUCT_MAPPING, [variant(8.0, "EUR"), variant(9.0, "USD"), variant(8.0, "EUR")])
    assert three.rows_superseded == 2 and three.rows_tied == (1 if payloads(three)[0]["ProductVariants"][0]["Currency"] == "EUR" else 2)
