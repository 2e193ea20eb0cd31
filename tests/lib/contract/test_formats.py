"""The contract's value formats, the tricky cases first."""

import pytest

from replenit_pipelines.lib.contract import formats


@pytest.mark.parametrize("tag", ["en", "en-US", "zh-Hans-CN", "es-419", "de-CH-1996", "sr-Latn"])
def test_valid_language_tags(tag):
    assert formats.is_language_tag(tag)


@pytest.mark.parametrize("tag", ["en_US", "en-us", "EN", "zzz", "xx-YY", "", "zh-Hans-CN-x-abc"])
def test_invalid_language_tags(tag):
    assert not formats.is_language_tag(tag)


@pytest.mark.parametrize("raw,canonical", [("en_us", "en-US"), ("EN-gb", "en-GB"), ("zh_hans_cn", "zh-Hans-CN"), ("nope!", None)])
def test_canonical_language_tags(raw, canonical):
    assert formats.canonical_language_tag(raw) == canonical


@pytest.mark.parametrize("value,ok", [
    ("2024-12-22T14:30:00Z", True), ("2024-12-22T14:30:00.000Z", True), ("2024-12-22T16:30:00+02:00", True),
    ("2024-02-29T00:00:00Z", True), ("2024-02-30T00:00:00Z", False), ("2023-02-29T00:00:00Z", False),
    ("2024-12-22", False), ("2024-12-22T14:30:00", False), ("2024-12-22T14:30:00+0200", False),
    ("2024-12-22T24:00:00Z", False), ("2024-12-22T14:30:00+25:00", False),
])
def test_timestamps(value, ok):
    assert formats.is_timestamp(value) is ok


@pytest.mark.parametrize("code,ok", [("EUR", True), ("XAF", True), ("XOF", True), ("XPF", True), ("XCD", True),
                                     ("usd", False), ("XXX", False), ("XTS", False), ("XAU", False), ("XDR", False),
                                     ("ABC", False)])
def test_currencies(code, ok):
    assert formats.is_currency(code) is ok


def test_currency_list_is_the_full_iso_list():
    assert len(formats.CURRENCIES) > 150 and {"USD", "JPY", "CHF", "BRL"} <= formats.CURRENCIES


@pytest.mark.parametrize("phone,ok", [("+447911123456", True), ("+12025550123", True), ("+1234567", False),
                                      ("447911123456", False), ("+0447911123456", False), ("+44 7911 123456", False)])
def test_phones(phone, ok):
    assert formats.is_phone(phone) is ok


EMAILS = [
    ("ada@example.com", True), ("o'brien+x@sub.example.co.uk", True), ("ada@", False), ("ada example.com", False),
    ("ada@localhost", False), ("a@b..com", False),
    # shared/replenit-api.md, Customer.Email, case by case
    ("jürgen.müller@example.de", True), ("名前@example.jp", True), ("user@bücher.example", True),
    ("dot..dot@example.com", False), (".a@example.com", False), ("a.@example.com", False), ("a@example", False),
    ("a@@example.com", False),
    # around the edges: RFC 5322 atext, DNS labels, characters that are no part of an address
    ("!#$%&'*+/=?^_`{|}~-@example.com", True), ("a@xn--bcher-kva.example", True), ("a@sub-1.example.com", True),
    ("a@-sub.example.com", False), ("a@sub-.example.com", False), ("a@example.com.", False), ("a@.example.com", False),
    ("a(b)@example.com", False), ('"a b"@example.com', False), ("a\u00a0b@example.com", False),
    ("a\u2028b@example.com", False), ("a\x85b@example.com", False), ("a@example.com\n", False), (" a@example.com", False),
    ("a@" + "l" * 63 + ".com", True), ("a@" + "l" * 64 + ".com", False),
]


@pytest.mark.parametrize("email,ok", EMAILS)
def test_emails(email, ok):
    assert formats.is_email(email) is ok


def test_email_pattern_reads_the_same_in_polars():
    """The pipeline runs EMAIL_PATTERN in Polars (Rust regex), the sandbox in Python's re."""
    import polars as pl

    values = [e for e, _ in EMAILS]
    assert pl.Series(values).str.contains(formats.EMAIL_PATTERN).to_list() == [ok for _, ok in EMAILS]


@pytest.mark.parametrize("value,units", [("abc", 3), ("", 0), ("müller", 6), ("名前", 2), ("😀", 2), ("a😀b👍🏽", 8)])
def test_utf16_length(value, units):
    assert formats.utf16_length(value) == units == len(value.encode("utf-16-le")) // 2


def test_non_finite_numbers():
    assert formats.is_finite_number(1.5) and formats.is_finite_number(0)
    assert not formats.is_finite_number(float("nan")) and not formats.is_finite_number(float("inf"))
    assert not formats.is_finite_number(True)
