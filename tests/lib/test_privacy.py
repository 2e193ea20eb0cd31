"""Masking personal data for the event log and the UI (issue 14's browsable quarantine), without Dagster."""

import polars as pl

from replenit_pipelines.lib.privacy import is_personal_field, mask_value, masked_quarantine_sample, masked_top_reasons


def test_emails_phones_and_names_are_masked_enough_to_recognise_the_problem():
    assert mask_value("Email", "john.smith@example.com") == "j***@example.com"
    assert mask_value("Email", "not-an-email") == "n***"
    assert mask_value("Name", "Ada Lovelace") == "A*** L***"
    masked = mask_value("Phone", "+44 20 7946 0958")
    assert masked.startswith("+44") and masked.endswith("58") and "7946" not in masked
    assert mask_value("Surname", "") == ""
    assert mask_value("Email", None) is None


def test_addresses_and_phone_numbers_in_other_fields_are_masked_where_they_stand():
    assert mask_value("CustomerId", "bob@example.org") == "b***@example.org"
    assert mask_value(None, "email:ada@example.com") == "email:a***@example.com"
    assert "555 0199" not in mask_value("Notes", "call +1 202 555 0199 today")
    # What is not personal stays as it is: the operator needs it to fix the row.
    assert mask_value("Currency", "XPT") == "XPT" and mask_value("Language", "pt_br") == "pt_br"


def test_personal_fields_are_known_by_the_contract_and_warehouse_spellings():
    assert all(map(is_personal_field, ["Email", "first_name", "OrderItems.Phone", "Surname", "phone_number"]))
    assert not any(map(is_personal_field, ["ProductName", "Currency", "CustomerId", None, ""]))


def quarantine() -> pl.DataFrame:
    rows = [(f"email:u{i}@example.com", i, "email_format", "Email", f"user{i}@example", ) for i in range(30)]
    rows += [("c99", 99, "max_length", "Name", "Ada " * 40), ("c98", 98, "currency", "Currency", "XPT")]
    return pl.DataFrame(rows, schema={"record_id": pl.String, "source_row": pl.UInt32, "rule": pl.String,
                                      "field": pl.String, "value": pl.String}, orient="row")


def test_the_sample_shows_every_kind_of_problem_and_no_raw_personal_value():
    q = quarantine()
    sample = masked_quarantine_sample(q, n=10)
    assert sample.height == 10
    assert {"email_format", "max_length", "currency"} <= set(sample["rule"])  # rare rules are not crowded out
    raw = set(q["value"]) | set(q["record_id"])
    shown = set(sample["value"]) | set(sample["record_id"])
    assert not (raw - {"XPT", "c99", "c98"}) & shown  # only the non-personal values appear as they are
    assert "u***@example" in sample["value"].to_list()[0] or any(v.startswith("u***@") for v in sample["value"])
    assert masked_quarantine_sample(q.clear()).height == 0
    long_name = next(v for v in sample["value"] if v and v.startswith("A***"))
    assert long_name.endswith("(160 characters)") and len(long_name) < 120  # cut, saying how long it was


def test_top_reasons_examples_are_masked():
    top = pl.DataFrame({"rule": ["email_format"], "field": ["Email"], "rows": [3], "example": ["jane@example.com"]})
    assert masked_top_reasons(top) == [["email_format", "Email", 3, "j***@example.com"]]


def test_dates_times_and_ids_in_free_text_are_left_alone():
    text = "partition 2026-11-26-14:00, run ff71c3d2-1a2b-45b6-b4f5-0a1b2c3d4e5f, 1234567 rows"
    assert mask_value(None, text) == text


# --- issue 21 item 8: every identity masked, whatever its shape --------------------------------------

def test_an_identity_is_masked_whatever_its_shape():
    from replenit_pipelines.lib.privacy import mask_identity

    assert mask_identity("email:ada@example.com") == "email:a***@example.com"
    assert mask_identity("email:nicole.chevalier480 at correo.example.es") == "email:n*** a*** c***"  # no @: still masked
    assert mask_identity("customerid:AAAAAAAAKMDKBAAA") == "customerid:AA***AA"  # a quarter at most is shown
    assert mask_identity("customerid:c1") == "customerid:c***"
    assert mask_identity("customerid:bob@example.org") == "customerid:b***@example.org"
    assert mask_identity("customerid:+447911123456") == "customerid:+44********56"
    assert mask_identity("customerid:jane roe") == "customerid:j*** r***"
    assert mask_identity("row 12") == "row 12" and mask_identity("o-1001") == "o-1001"  # no personal data: as it is
    assert mask_value("CustomerId", "CUST-000123") == "C***3"  # a customer's id in the value column too


def test_free_text_masks_identities_and_addresses_written_with_at():
    from replenit_pipelines.lib.privacy import mask_text

    text = ("would delete email:nicole.chevalier480 at correo.example.es, customerid:CUST-000123, "
            "email:ada@example.com; write to jane.doe at example.org or +44 20 7946 0958")
    masked = mask_text(text)
    for raw in ("chevalier480", "CUST-000123", "ada@", "jane.doe", "7946"):
        assert raw not in masked, (raw, masked)
    assert "email:a***@example.com" in masked and "j*** at example.org" in masked
    assert mask_value(None, "email:x at y.example.com") == mask_text("email:x at y.example.com")


def test_merges_are_shown_masked_largest_first():
    from replenit_pipelines.lib.privacy import masked_merges

    merges = pl.DataFrame({"identity": ["email:a@example.com", "email:info@shop.example"], "kept": ["c1", None],
                           "merged": [["c2"], [f"CUST-{i:06d}" for i in range(7)]], "rows": [1, 9]},
                          schema={"identity": pl.String, "kept": pl.String, "merged": pl.List(pl.String), "rows": pl.UInt32})
    shown = masked_merges(merges)
    assert shown[0] == ["email:i***@shop.example", "(none)", "C***0, C***1, C***2, C***3, C***4 and 2 more", 9]
    assert shown[1] == ["email:a***@example.com", "c***", "c***", 1]


def test_an_address_with_an_apostrophe_is_masked_from_its_first_character():
    """An apostrophe is an ordinary character of an address's local part (o'brien@, theLook's
    `fatimao'brien@example.com`): the mask starts at the address's first character, where it
    showed `fatimao'b***@example.com` (the name before the apostrophe) in the merge warning."""
    assert mask_value("Email", "fatimao'brien@example.com") == "f***@example.com"
    assert mask_value(None, "email:fatimao'brien@example.com") == "email:f***@example.com"
    assert mask_value("Notes", "merged 'ada@example.com' into bob") == "merged 'a***@example.com' into bob"
