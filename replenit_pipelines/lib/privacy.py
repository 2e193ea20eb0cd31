"""Masking personal data before it leaves the state store for a shared place (Dagster's event
log, a UI table): enough of a value to recognise the problem (`j***@example.com`, `+44*******58`,
`A*** L***`), not enough to identify the person. The full values stay in the state store
(`replenit state`), where access is the deployment's to control."""

import re
from collections.abc import Iterable

import polars as pl

# Fields that hold personal data by name (the contract's and common warehouse spellings).
PERSONAL_FIELDS = frozenset({"email", "name", "surname", "phone", "firstname", "lastname", "fullname", "mobile",
                             "customername", "emailaddress", "phonenumber"})
_EMAIL = re.compile(r"([^\s@:;,<>\"']+)@([^\s@;,<>\"']+)")
_PHONE = re.compile(r"\+?\d[\d\s().\-/]{5,}\d")
# In free text only an international number (a leading +) is taken for a phone: dates, times and
# ids are digit runs too, and the operator needs them.
_INTERNATIONAL_PHONE = re.compile(r"\+\d[\d\s().\-/]{5,}\d")
_LETTERS = re.compile(r"[^a-z]")


def is_personal_field(field: str | None) -> bool:
    """`Email`, `OrderItems.Email`, `first_name`: the last segment, letters only, lowercased."""
    return bool(field) and _LETTERS.sub("", str(field).rsplit(".", 1)[-1].lower()) in PERSONAL_FIELDS


def mask_email(text: str) -> str:
    """Every address in `text` as its first character, `***` and the domain: `j***@example.com`."""
    return _EMAIL.sub(lambda m: f"{m.group(1)[:1]}***@{m.group(2)}", text)


def mask_phone(text: str, pattern: re.Pattern = _PHONE) -> str:
    """A phone number as its leading `+` and country digits, stars, and its last two digits."""
    def one(m: re.Match) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        head = ("+" + digits[:2]) if m.group(0).startswith("+") else ""
        return head + "*" * max(3, len(digits) - len(head.lstrip("+")) - 2) + digits[-2:]
    return pattern.sub(one, text)


def mask_words(text: str) -> str:
    """Each word as its first character and `***`: `Ada Lovelace` -> `A*** L***`."""
    return " ".join(f"{w[:1]}***" for w in text.split()) or ("***" if text else text)


def mask_value(field: str | None, value: object) -> str | None:
    """A quarantined value as it may be shown: personal fields masked whole, and addresses or
    phone numbers found in any other field masked where they stand."""
    if value is None:
        return None
    text = str(value)
    name = _LETTERS.sub("", str(field or "").rsplit(".", 1)[-1].lower())
    if is_personal_field(field):
        if "@" in text:
            return mask_email(text) if _EMAIL.search(text) else mask_words(text)
        if "phone" in name or "mobile" in name:
            return mask_phone(text) if _PHONE.search(text) else mask_words(text)
        return mask_words(text)
    return mask_phone(mask_email(text), _INTERNATIONAL_PHONE)


def mask_column(values: Iterable[object], field: str | None = None) -> list[str | None]:
    return [mask_value(field, v) for v in values]


SHOWN_CHARS = 80  # a value in a UI table: enough to see what is wrong with it


def shorten(text: str | None, original: object = None, limit: int = SHOWN_CHARS) -> str | None:
    """A long value cut to `limit` characters, saying how long the original was (a max_length problem)."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(str(original if original is not None else text)):,} characters)"


def masked_quarantine_sample(quarantine: pl.DataFrame, n: int = 25) -> pl.DataFrame:
    """Up to `n` quarantined rows (record_id, source_row, rule, field, value) with the identity
    and the value masked: the most frequent (rule, field) pairs first, a few rows of each, so
    a sample shows every kind of problem before it shows many of one."""
    if quarantine.is_empty():
        return pl.DataFrame(schema={"rule": pl.String, "field": pl.String, "value": pl.String,
                                    "record_id": pl.String, "source_row": pl.Int64})
    ranked = (quarantine.with_columns(pl.len().over("rule", "field").alias("__n"),
                                      pl.int_range(pl.len()).over("rule", "field").alias("__i"))
              .sort(["__i", "__n", "rule", "field"], descending=[False, True, False, False]).head(n))
    return pl.DataFrame({
        "rule": ranked["rule"].cast(pl.String),
        "field": ranked["field"].cast(pl.String),
        "value": [shorten(mask_value(f, v), v) for f, v in zip(ranked["field"].to_list(), ranked["value"].to_list())],
        "record_id": [mask_value(None, v) for v in ranked["record_id"].to_list()],
        "source_row": ranked["source_row"].cast(pl.Int64),
    }, schema={"rule": pl.String, "field": pl.String, "value": pl.String, "record_id": pl.String, "source_row": pl.Int64})


def masked_top_reasons(top: pl.DataFrame) -> list[list]:
    """`Prepared.top_reasons()` rows (rule, field, rows, example) with each example masked."""
    return [[rule, field, rows, mask_value(field, example)] for rule, field, rows, example in top.iter_rows()]
