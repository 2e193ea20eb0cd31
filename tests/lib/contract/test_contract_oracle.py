"""An independent oracle for the contract: every verdict below was written by hand from
/work/shared/replenit-api.md ([docs] and [assumed] rules, at their boundaries), never computed with
the project's contract module. Each case runs against both halves of the project:

- the sandbox, over HTTP: a one-record POST is accepted (200) or refused (400, naming the field);
- the pipeline's validation: `prepare` over a one-row frame (normalization off, so the value is
  judged as written) keeps the record or quarantines it, naming the field.

A misreading of the contract shared by the sandbox and the pipeline fails here.
"""

import copy

import polars as pl
import pytest

from replenit_pipelines.lib.validation import prepare
from replenit_pipelines.lib.warehouse import entity_mapping_from_dict

OK, BAD = True, False
ABSENT = None  # the field is left out (null in the pipeline's frame)

BASE = {
    "customers": {"CustomerId": "c1"},
    "orders": {"OrderId": "o1", "Currency": "EUR", "OrderItems": [{"ProductId": "p1", "Quantity": 1, "Price": 2.5}]},
    "products": {"ProductId": "p1", "ProductVariants": [{"VariantId": "v1"}]},
}
CHILDREN = {"orders": "OrderItems", "products": "ProductVariants"}

EMOJI = "\U0001F600"  # outside the BMP: two UTF-16 code units

# (entity, {field: value}, verdict, field the error names). Child fields are written "OrderItems.Quantity".
CASES = [
    # --- string lengths in UTF-16 code units [assumed] ---
    ("customers", {"CustomerId": "a" * 100}, OK, None),
    ("customers", {"CustomerId": "a" * 101}, BAD, "CustomerId"),
    ("customers", {"CustomerId": "é" * 100}, OK, None),  # BMP: one unit each
    ("customers", {"CustomerId": EMOJI * 50}, OK, None),  # 100 units
    ("customers", {"CustomerId": "a" * 99 + EMOJI}, BAD, "CustomerId"),  # 100 characters, 101 units
    ("customers", {"CustomerId": EMOJI * 50 + "a"}, BAD, "CustomerId"),
    ("customers", {"Name": "n" * 100}, OK, None),
    ("customers", {"Name": "n" * 101}, BAD, "Name"),
    ("customers", {"Surname": "s" * 99 + EMOJI}, BAD, "Surname"),
    ("customers", {"Email": "a" * 244 + "@example.com"}, OK, None),  # 256
    ("customers", {"Email": "a" * 245 + "@example.com"}, BAD, "Email"),  # 257
    ("orders", {"OrderId": "o" * 100}, OK, None),
    ("orders", {"OrderId": "o" * 101}, BAD, "OrderId"),
    ("orders", {"OrderItems.ProductId": "p" * 101}, BAD, "ProductId"),
    ("products", {"ProductName": "p" * 200}, OK, None),
    ("products", {"ProductName": "p" * 199 + EMOJI}, BAD, "ProductName"),
    ("products", {"ProductVariants.VariantId": "v" * 101}, BAD, "VariantId"),
    ("products", {"ProductVariants.ProductUrl": "https://shop.example/" + "x" * 2027}, OK, None),  # 2048
    ("products", {"ProductVariants.ProductUrl": "https://shop.example/" + "x" * 2028}, BAD, "ProductUrl"),  # 2049
    # --- required, one-of, required-with ---
    ("customers", {"CustomerId": ABSENT, "Email": "ada@example.com"}, OK, None),
    ("customers", {"CustomerId": ABSENT}, BAD, ""),  # neither CustomerId nor Email [docs]
    ("orders", {"OrderId": ABSENT}, BAD, "OrderId"),
    ("orders", {"Currency": ABSENT}, BAD, "Currency"),
    ("orders", {"OrderItems.ProductId": ABSENT}, BAD, "ProductId"),
    ("orders", {"OrderItems.Quantity": ABSENT}, BAD, "Quantity"),
    ("products", {"ProductId": ABSENT}, BAD, "ProductId"),
    ("products", {"ProductVariants.VariantId": ABSENT, "ProductVariants.Sku": "s1"}, BAD, "VariantId"),
    ("products", {"ProductVariants.SalePrice": 10.0}, BAD, "Currency"),  # a price needs its currency
    ("products", {"ProductVariants.OriginalPrice": 12.0}, BAD, "Currency"),
    ("products", {"ProductVariants.SalePrice": 10.0, "ProductVariants.Currency": "EUR"}, OK, None),
    ("products", {"ProductVariants.Currency": "EUR"}, OK, None),  # a currency without a price is fine
    # --- ranges ---
    ("orders", {"OrderItems.Quantity": 1}, OK, None),
    ("orders", {"OrderItems.Quantity": 0}, BAD, "Quantity"),
    ("orders", {"OrderItems.Price": 0.0}, OK, None),
    ("orders", {"OrderItems.Price": -0.01}, BAD, "Price"),
    ("orders", {"OrderItems.OriginalPrice": -1.0}, BAD, "OriginalPrice"),
    ("orders", {"TotalRevenue": 0.0}, OK, None),
    ("orders", {"TotalRevenue": -0.01}, BAD, "TotalRevenue"),
    ("orders", {"TotalQuantity": 0}, OK, None),
    ("orders", {"TotalQuantity": -1}, BAD, "TotalQuantity"),
    ("orders", {"UniqueQuantity": -1}, BAD, "UniqueQuantity"),
    ("products", {"ProductVariants.StockQuantity": 0}, OK, None),
    ("products", {"ProductVariants.StockQuantity": -1}, BAD, "StockQuantity"),
    ("products", {"ProductVariants.SalePrice": -0.5, "ProductVariants.Currency": "EUR"}, BAD, "SalePrice"),
    # --- order status [assumed] ---
    *[("orders", {"Status": s}, OK, None) for s in ("completed", "cancelled", "refunded")],
    *[("orders", {"Status": s}, BAD, "Status") for s in ("Completed", "shipped", "COMPLETED")],
    # --- currencies: ISO 4217, three uppercase letters; the codes that are not money [assumed] ---
    *[("orders", {"Currency": c}, OK, None) for c in ("EUR", "USD", "JPY", "GBP", "CHF", "XAF", "XOF", "XPF", "XCD")],
    *[("orders", {"Currency": c}, BAD, "Currency") for c in
      ("XXX", "XTS", "XAU", "XAG", "XPD", "XPT", "XDR", "XSU", "XUA", "XBA", "XBB", "XBC", "XBD")],
    *[("orders", {"Currency": c}, BAD, "Currency") for c in ("eur", "Eur", "EURO", "EU", "€", "ABC", " EUR")],
    ("products", {"ProductVariants.Currency": "XPT"}, BAD, "Currency"),
    # --- datetimes [assumed form] ---
    *[("orders", {"OrderDate": t}, OK, None) for t in (
        "2024-12-22T14:30:00.000Z", "2024-12-22T14:30:00Z", "2024-12-22T14:30:00+02:00", "2024-12-22T14:30:00-05:30",
        "2024-12-22T14:30:00.5Z", "2024-02-29T10:00:00Z", "2024-12-31T23:59:59.999+00:00")],
    *[("orders", {"OrderDate": t}, BAD, "OrderDate") for t in (
        "2024-12-22", "2024-12-22T14:30:00", "2024-12-22T14:30:00+0200", "2024-12-22 14:30:00Z",
        "2024-02-30T10:00:00Z", "2023-02-29T10:00:00Z", "2024-12-22T24:00:00Z", "2024-13-01T10:00:00Z",
        "2024-12-22T14:60:00Z", "22/12/2024 14:30", "2024-12-22T14:30Z")],
    # --- email [assumed] ---
    *[("customers", {"Email": e}, OK, None) for e in (
        "ada@example.com", "a.b@example.com", "ada+tag@example.co.uk", "jürgen@example.de", "名前@example.jp",
        "user@bücher.example", "ada@exa-mple.com", "o'brien@example.ie")],
    *[("customers", {"Email": e}, BAD, "Email") for e in (
        ".ada@example.com", "ada.@example.com", "a..b@example.com", "ada@localhost", "ada@@example.com",
        "ada@ex@ample.com", "ada example@example.com", "ada@-example.com", "ada@example-.com", "adaexample.com",
        "@example.com", "ada@")],
    # --- phone: E.164, a plus and 8 to 15 digits [assumed] ---
    *[("customers", {"Phone": p}, OK, None) for p in ("+447911123456", "+12345678", "+123456789012345")],
    *[("customers", {"Phone": p}, BAD, "Phone") for p in (
        "+1234567", "+1234567890123456", "447911123456", "+44 7911 123456", "+44-7911-123456", "+44791112345a")],
    # --- URLs: absolute http(s) [assumed] ---
    *[("products", {"ProductVariants.ProductUrl": u}, OK, None) for u in (
        "https://shop.example/p1", "http://shop.example", "https://shop.example/p?c=blue&s=m#top")],
    *[("products", {"ProductVariants.ImageUrl": u}, BAD, "ImageUrl") for u in (
        "ftp://shop.example/p1.jpg", "shop.example/p1.jpg", "/images/p1.jpg", "https://", "https:// shop.example/x")],
    # --- language tags: BCP 47, lowercase language, Titlecase script, UPPERCASE region, at most 10 ---
    *[("customers", {"Language": t}, OK, None) for t in ("en", "en-US", "zh-Hans-CN", "es-419", "sr-Latn-RS", "zh-Hant")],
    *[("customers", {"Language": t}, BAD, "Language") for t in (
        "EN", "En", "en-us", "en-Us", "en_US", "zh-hans-CN", "zh-HANS-CN", "zh-hANS", "zh-Hans-cn", "yue-Hant-HK",
        "english")],
    ("products", {"ProductVariants.Language": "en-GB"}, OK, None),
    ("products", {"ProductVariants.Language": "en-gb"}, BAD, "Language"),
]


def record_for(entity: str, changes: dict) -> dict:
    record = copy.deepcopy(BASE[entity])
    for name, value in changes.items():
        target = record
        if "." in name:
            child, name = name.split(".", 1)
            target = record[child][0]
        if value is ABSENT:
            target.pop(name, None)
        else:
            target[name] = value
    return record


def case_id(case) -> str:
    entity, changes, verdict, _ = case
    text = ",".join(f"{k}={v!r}"[:40] for k, v in changes.items())
    return f"{entity}:{text}:{'ok' if verdict else 'bad'}"


# --- the sandbox, over HTTP ---------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_sandbox_follows_the_contract(api, case):
    entity, changes, verdict, field = case
    r = api.post(f"/{entity}/{api.tenant_id}", json=[record_for(entity, changes)])
    if verdict:
        assert r.status_code == 200, r.text
        return
    assert r.status_code == 400, r.text
    keys = list(r.json()["errors"])
    if field:
        assert any(k.startswith("[0]") and k.endswith(field) for k in keys), keys
    else:
        assert set(keys) <= {"[0]", ""}, keys


# --- the pipeline's validation --------------------------------------------------------------------

def frame_and_mapping(entity: str, record: dict):
    child = CHILDREN.get(entity)
    row = {f"f_{k}": v for k, v in record.items() if k != child}
    fields = {k: f"f_{k}" for k in record if k != child}
    raw: dict = {"source": {"table": "t", "window_column": "updated_at"}, "fields": fields}
    if child:
        item = record.get(child, [{}])[0]
        row |= {f"c_{k}": v for k, v in item.items()}
        raw[child] = {"fields": {k: f"c_{k}" for k in item}}
    from datetime import UTC, datetime

    row["updated_at"] = datetime(2026, 11, 26, 12, tzinfo=UTC)
    return pl.DataFrame([row]), entity_mapping_from_dict(entity, raw)


def pipeline_case(entity, changes):
    record = record_for(entity, changes)
    # A field left out of the record is still mapped (to a null column) when the case names it.
    for name, value in changes.items():
        if value is ABSENT:
            parent, _, leaf = name.rpartition(".")
            target = record[parent][0] if parent else record
            target.setdefault(leaf, None)
    return frame_and_mapping(entity, record)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_pipeline_follows_the_contract(case):
    entity, changes, verdict, field = case
    frame, mapping = pipeline_case(entity, changes)
    prepared = prepare(mapping, frame, normalize_values=False)
    reasons = prepared.quarantine.select("rule", "field").rows()
    if verdict:
        assert prepared.records_valid == 1 and prepared.rows_quarantined == 0, reasons
        return
    assert prepared.records_valid == 0 and prepared.rows_quarantined == 1, reasons
    if field:
        assert any(f is not None and f.split(".")[-1] == field for _, f in reasons), reasons


# --- the pipeline's normalization of language tags (docs: "canonicalised when unambiguous") ----

@pytest.mark.parametrize("written,sent", [
    ("en_gb", "en-GB"), ("EN-us", "en-US"), ("zh_hant_tw", "zh-Hant-TW"), ("pt-br", "pt-BR"), ("en-GB", "en-GB"),
    ("english", None), ("EN_GB_OXENDICT", None),  # not a tag; a tag longer than 10 characters
])
def test_language_tags_are_canonicalised_only_into_valid_tags(written, sent):
    frame, mapping = frame_and_mapping("customers", {"CustomerId": "c1", "Language": written})
    prepared = prepare(mapping, frame)
    if sent is None:
        assert prepared.records_valid == 0
        rules = set(prepared.quarantine.select("rule", "field", "value").rows())
        assert ("language", "Language", written) in rules  # the value as written, not a half-fixed one
    else:
        assert prepared.records["Language"].to_list() == [sent]
