"""Masking personal data before it leaves the state store for a shared place (Dagster's event
log, a UI table): enough of a value to recognise the problem (`j***@example.com`, `+44*******58`,
`A*** L***`), not enough to identify the person. The full values stay in the state store
(`replenit state`), where access is the deployment's to control.

A record's identity is masked whatever its shape (`mask_identity`): `email:...` as an address
even when it is none (`email:n***`), `customerid:...` as a customer's id (`customerid:AB***42`);
in free text (`mask_text`), addresses written with " at ", and `email:` and `customerid:`
identities, are masked where they stand, as are addresses and international phone numbers."""

import re
from collections.abc import Iterable

import polars as pl

# Fields that hold personal data by name (the contract's and common warehouse spellings).
PERSONAL_FIELDS = frozenset({"email", "name", "surname", "phone", "firstname", "lastname", "fullname", "mobile",
                             "customername", "emailaddress", "phonenumber"})
# An apostrophe may stand inside a local part (o'brien@), never at its start: a quote around an
# address ('ada@example.com') is left out of it.
_EMAIL = re.compile(r"([^\s@:;,<>\"']+(?:'+[^\s@:;,<>\"']+)*)@([^\s@;,<>\"']+)")
_PHONE = re.compile(r"\+?\d[\d\s().\-/]{5,}\d")
# In free text only an international number (a leading +) is taken for a phone: dates, times and
# ids are digit runs too, and the operator needs them.
_INTERNATIONAL_PHONE = re.compile(r"\+\d[\d\s().\-/]{5,}\d")
_LETTERS = re.compile(r"[^a-z]")
# An address written to dodge spam filters or mangled by an export: `jane.doe at example.com`.
_AT_EMAIL = re.compile(r"([\w.%+\-]+)\s+(?:at|AT|\(at\)|\[at\])\s+([\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,})\b")
# A record identity in free text (a refusal's examples, an alert): up to a space or a separator.
_IDENTITY = re.compile(r"\b(email|customerid):([^\s,;|)\]]+)")
IDENTIFIER_FIELDS = frozenset({"customerid"})  # ids of a person: masked as an id, never shown whole


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


def mask_customer_id(text: str) -> str:
    """A customer's id: an address or a phone number used as one masked as such, text with
    spaces or an `@` as words, any other id as its first characters, `***` and its last ones, at
    most a quarter of it shown (`c***`, `AA***AA` for a 16-character id)."""
    stripped = text.strip()
    if _EMAIL.fullmatch(stripped):
        return mask_email(stripped)
    if _PHONE.fullmatch(stripped):
        return mask_phone(stripped)
    if "@" in stripped or any(ch.isspace() for ch in stripped):
        return mask_words(text)
    keep = min(2, len(text) // 8)
    return f"{text[:max(1, keep)]}***{text[len(text) - keep:] if keep else ''}"


def _at_email(m: re.Match) -> str:
    return f"{m.group(1)[:1]}*** at {m.group(2)}"


def mask_identity(identity: str | None) -> str | None:
    """A record's identity as it may be shown, whatever its shape: `email:<address>` masked as an
    address (`email:j***@example.com`; `email:n*** a*** c***` when it is none), `customerid:<id>`
    as a customer's id, `row N` as it is, an order's or a product's id through `mask_text`."""
    if identity is None:
        return None
    kind, sep, rest = identity.partition(":")
    if sep and kind == "email":
        return "email:" + (mask_value("Email", rest) or "")
    if sep and kind == "customerid":
        return "customerid:" + mask_customer_id(rest)
    return mask_text(identity)


def _identity_in_text(m: re.Match) -> str:
    return mask_identity(f"{m.group(1)}:{m.group(2)}") or ""


def mask_text(text: str) -> str:
    """Free text (a log line, an alert, an id): addresses (also written with " at "), record
    identities and international phone numbers masked where they stand; dates, times, run ids
    and counts left alone, the operator needs them."""
    text = _AT_EMAIL.sub(_at_email, text)
    text = mask_email(text)
    text = _IDENTITY.sub(_identity_in_text, text)
    return mask_phone(text, _INTERNATIONAL_PHONE)


def mask_value(field: str | None, value: object) -> str | None:
    """A quarantined value as it may be shown: personal fields masked whole, a CustomerId as an
    id, and addresses, identities or phone numbers found in any other field masked where they
    stand."""
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
    if name in IDENTIFIER_FIELDS:
        return mask_customer_id(text)
    return mask_text(text)


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
        "value": [shorten(mask_value(f, v), v) for f, v in zip(ranked["field"].to_list(), ranked["value"].to_list(), strict=True)],
        "record_id": [mask_identity(v) for v in ranked["record_id"].to_list()],
        "source_row": ranked["source_row"].cast(pl.Int64),
    }, schema={"rule": pl.String, "field": pl.String, "value": pl.String, "record_id": pl.String, "source_row": pl.Int64})


def masked_top_reasons(top: pl.DataFrame) -> list[list]:
    """`Prepared.top_reasons()` rows (rule, field, rows, example) with each example masked."""
    return [[rule, field, rows, mask_value(field, example)] for rule, field, rows, example in top.iter_rows()]


MERGED_SHOWN = 5  # CustomerIds named per merged identity; the rest counted


def masked_merges(merges: pl.DataFrame, n: int = 10) -> list[list]:
    """`Prepared.merges` rows, the largest merges first, masked: [identity, the CustomerId sent
    ("(none)" when the newest row has none), the CustomerIds merged into it, their rows]."""
    top = merges.sort(pl.col("merged").list.len(), "identity", descending=[True, False]).head(n)
    out = []
    for identity, kept, merged, rows in top.select("identity", "kept", "merged", "rows").iter_rows():
        shown = ", ".join(mask_customer_id(m) for m in merged[:MERGED_SHOWN])
        more = f" and {len(merged) - MERGED_SHOWN:,} more" if len(merged) > MERGED_SHOWN else ""
        out.append([mask_identity(identity), mask_customer_id(kept) if kept is not None else "(none)", shown + more, rows])
    return out


class Secret:
    """A value that never shows itself: not in repr, str, logs or tracebacks (an API key, a
    database URL's password); `reveal()` hands it to the one place that uses it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def masked(self) -> str:
        """What may be shown of it."""
        return "********"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.masked!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

