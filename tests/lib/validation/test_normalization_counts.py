"""The normalization counts (the run's `normalization` metadata): a fix is counted when it changed
a value, and nothing is counted when nothing needed fixing."""

from datetime import UTC, datetime

from helpers import CUSTOMER_MAPPING, ORDER_MAPPING, TS, customer_rows, order_rows, payloads, run

from replenit_pipelines.lib.warehouse import entity_mapping_from_dict

TAXONOMY = entity_mapping_from_dict(
    "products",
    {
        "source": {"table": "t"},
        "fields": {"ProductId": "pid", "Taxonomy": {"expr": "string_to_array(category, '|')"}},
        "ProductVariants": {"fields": {"VariantId": "vid"}},
    },
)


def test_canonical_language_tags_count_no_fix():
    p = run(CUSTOMER_MAPPING, [customer_rows(locale="en-GB"), customer_rows(id="c2", email="b@example.com", locale="zh-Hans-CN")])
    assert [r["Language"] for r in payloads(p)] == ["en-GB", "zh-Hans-CN"]
    assert p.normalization["languages_canonicalised"] == 0


def test_lists_without_blank_items_count_no_fix():
    p = run(
        TAXONOMY,
        [
            {"pid": "p1", "category": "Home|Kitchen", "vid": "v1", "updated_at": TS},
            {"pid": "p2", "category": None, "vid": "v2", "updated_at": TS},
        ],
    )
    assert {r["ProductId"]: r["Taxonomy"] for r in payloads(p)} == {"p1": ["Home", "Kitchen"], "p2": None}
    assert (p.normalization["blank_list_items_dropped"], p.normalization["empty_lists_to_null"]) == (0, 0)


def test_a_list_item_of_separator_controls_only_is_blank_as_python_strips_it():
    # U+001C..U+001F: whitespace to Python's str.strip() (and the API's notion of blank), not to Rust's.
    p = run(TAXONOMY, [{"pid": "p1", "category": "Home|\x1f|\x1c \x1d|Kitchen", "vid": "v1", "updated_at": TS}])
    assert payloads(p)[0]["Taxonomy"] == ["Home", "Kitchen"]
    assert p.normalization["blank_list_items_dropped"] == 2


def test_a_datetime_column_counts_its_values_under_the_text_timestamps_key():
    # A warehouse DATETIME column is written as UTC text: every value is a fix, counted under the
    # same metadata key as text timestamps brought to UTC (users chart it by that name).
    typed = run(ORDER_MAPPING, order_rows(ordered_at=datetime(2026, 11, 26, 13, 0, tzinfo=UTC)))
    text = run(ORDER_MAPPING, order_rows(ordered_at="2026-11-26T14:00:00+01:00"))
    assert payloads(typed)[0]["OrderDate"] == payloads(text)[0]["OrderDate"] == "2026-11-26T13:00:00.000Z"
    assert typed.normalization == text.normalization == {"timestamps_to_utc": 2, "currencies_upper_cased": 0, "blank_to_null": 0}
