"""Value formats of the Replenit API (shared/replenit-api.md, "Formats").

One definition of each format serves both halves of the project: the sandbox checks request
records with these functions, and the pipeline's vectorised checks use the same regexes and the
same code lists, so "valid for us" and "accepted by the sandbox" cannot drift apart.
"""

import functools
import math
import re
from datetime import datetime

import langcodes
import polars as pl
import pycountry

# [assumed] codes that ISO 4217 lists but that are not money.
NON_MONEY_CURRENCIES = frozenset(
    {"XXX", "XTS", "XAU", "XAG", "XPD", "XPT", "XDR", "XSU", "XUA", "XBA", "XBB", "XBC", "XBD"}
)
CURRENCIES: frozenset[str] = frozenset(c.alpha_3 for c in pycountry.currencies) - NON_MONEY_CURRENCIES

# [assumed] YYYY-MM-DDTHH:MM:SS[.fraction] with Z or ±hh:mm; the calendar is checked by parsing.
ISO8601_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"
_ISO8601 = re.compile(ISO8601_PATTERN)

# [assumed] The contract's address (shared/replenit-api.md, Customer.Email): one `@`; the local part
# a dot-atom (RFC 5322 atext, no leading, trailing or doubled dot) whose characters may be non-ASCII
# (RFC 6531); the domain a DNS name of at least two labels (letters, digits, inner hyphens; IDN
# labels in their Unicode form allowed). Of the non-ASCII characters RFC 6531 admits, the C1
# controls and the Unicode spaces (Zs, Zl, Zp) are left out: no real address holds them, and they
# hide in logs. Written once, in the syntax both Python's `re` and Polars' Rust regex read the same
# way (\uXXXX escapes, no lookarounds, no class set operations), so the sandbox and the pipeline
# cannot disagree; tests/lib/contract/test_formats.py runs every case through both engines.
_NON_ASCII = r"\u00A1-\u167F\u1681-\u1FFF\u200B-\u2027\u202A-\u202E\u2030-\u205E\u2060-\u2FFF\u3001-\U0010FFFF"
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~" + _NON_ASCII + r"-]+"
_LABEL_END = r"[A-Za-z0-9" + _NON_ASCII + r"]"
_LABEL = _LABEL_END + r"(?:[A-Za-z0-9" + _NON_ASCII + r"-]{0,61}" + _LABEL_END + r")?"
EMAIL_PATTERN = rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+$"
_EMAIL = re.compile(EMAIL_PATTERN)

# Characters outside the Basic Multilingual Plane: two UTF-16 code units each.
ASTRAL_PATTERN = r"[\U00010000-\U0010FFFF]"

# [assumed] E.164: a plus, a country code that does not start with 0, 8 to 15 digits in all.
E164_PATTERN = r"^\+[1-9][0-9]{7,14}$"
_E164 = re.compile(E164_PATTERN)

URL_PATTERN = r"^https?://[^\s/?#]+[^\s]*$"
_URL = re.compile(URL_PATTERN, re.IGNORECASE)

LANGUAGE_MAX_LENGTH = 10

# What Python's str.strip() removes (the sandbox's notion of a blank value). Polars' strip_chars()
# alone follows Rust, which keeps U+001C..U+001F; the pipeline strips exactly these characters.
WHITESPACE = "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace())


def is_currency(value: str) -> bool:
    return value in CURRENCIES


def is_timestamp(value: str) -> bool:
    """Strict ISO 8601 with an offset, and a real calendar date and time (no 2024-02-30)."""
    if not _ISO8601.match(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


# fullmatch, not match: Python's `$` also matches before a final newline, Rust's does not.
def is_email(value: str) -> bool:
    return _EMAIL.fullmatch(value) is not None


def is_phone(value: str) -> bool:
    return _E164.fullmatch(value) is not None


def is_url(value: str) -> bool:
    return _URL.fullmatch(value) is not None


def utf16_length(value: str) -> int:
    """The length the .NET service counts: UTF-16 code units (an emoji is 2)."""
    if value.isascii():
        return len(value)
    return len(value) + sum(1 for ch in value if ord(ch) > 0xFFFF)


def utf16_units(c: pl.Expr) -> pl.Expr:
    """`utf16_length` as a Polars expression: code points, plus one for each character outside
    the Basic Multilingual Plane."""
    return c.str.len_chars() + c.str.count_matches(ASTRAL_PATTERN)


@functools.lru_cache(maxsize=4096)
def is_language_tag(value: str) -> bool:
    """BCP 47 in its canonical written form, with every subtag known to the IANA registry.

    langcodes alone accepts `en_US` and any casing; the contract asks for hyphens, a lowercase
    language, a Titlecase script and an UPPERCASE region.
    """
    if not value or len(value) > LANGUAGE_MAX_LENGTH or "_" in value:
        return False
    subtags = value.split("-")
    if not subtags[0].isalpha() or subtags[0] != subtags[0].lower():
        return False
    for sub in subtags[1:]:
        if len(sub) == 4 and sub.isalpha():
            expected = sub.title()
        elif len(sub) == 2 and sub.isalpha():
            expected = sub.upper()
        else:
            expected = sub.lower()
        if sub != expected:
            return False
    return bool(langcodes.tag_is_valid(value))


def canonical_language_tag(value: str) -> str | None:
    """`en_us` -> `en-US`; None when the value is not a tag langcodes can read."""
    try:
        tag = langcodes.standardize_tag(value.replace("_", "-"))
    except (ValueError, langcodes.tag_parser.LanguageTagError):
        return None
    return tag if is_language_tag(tag) else None


def is_finite_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )
