"""A demo warehouse: a DuckDB file shaped like a real shop's, dirt included.

Normalized, as real shops' warehouses are: `customers`; `products` and `product_variants` (one row
per variant, joined by `product_id`), each with its own `updated_at` (a variant's stock changes in
other hours than its product); `orders` and `order_lines` (joined by `order_id`), the orders with an
`updated_at`, the lines with none (they change only with their order). Times span the last N days. Names come from Faker pools per locale; everything else is drawn with NumPy from
the seed, vectorised, so 10M customers build in seconds and the same seed gives the same file.

A controlled share of rows (default 2%) carries the dirt real warehouses have. Some of it
normalization fixes (en_US, lowercase currencies, padded emails, local timestamps); the rest
must be quarantined (bad emails, unknown currencies, over-long or missing ids, negative
quantities, bad URLs, prices without a currency); duplicate ids are older versions of a row
(customers and variants). A few products have no variant yet, and a few orders no line.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from faker import Faker

# (Faker locale, BCP 47 tag, currency, UTC offset used for local order timestamps)
LOCALES = [
    ("en_US", "en-US", "USD", "-05:00"), ("en_GB", "en-GB", "GBP", "+00:00"), ("de_DE", "de-DE", "EUR", "+01:00"),
    ("fr_FR", "fr-FR", "EUR", "+01:00"), ("es_ES", "es-ES", "EUR", "+01:00"), ("es_MX", "es-MX", "MXN", "-06:00"),
    ("it_IT", "it-IT", "EUR", "+01:00"), ("nl_NL", "nl-NL", "EUR", "+01:00"), ("pt_BR", "pt-BR", "BRL", "-03:00"),
    ("sv_SE", "sv-SE", "SEK", "+01:00"), ("pl_PL", "pl-PL", "PLN", "+01:00"), ("ja_JP", "ja-JP", "JPY", "+09:00"),
    ("zh_CN", "zh-Hans-CN", "CNY", "+08:00"),
]
DOMAINS = ["example.com", "mail.example.org", "shop.example.net", "example.co.uk", "correo.example.es"]
CATEGORIES = ["Home/Kitchen", "Home/Garden", "Beauty/Skincare", "Sports/Running", "Toys/Board games", "Books/Fiction",
              "Home/Decor", "Electronics/Audio", "Pets/Dogs", "Fashion/Shoes"]
COLORS = ["red", "blue", "green", "black", "white", "grey", "beige"]
SIZES = ["XS", "S", "M", "L", "XL", "One size"]
STATUSES = ["completed", "completed", "completed", "completed", "cancelled", "refunded"]


@dataclass(frozen=True)
class DemoCounts:
    customers: int
    product_variants: int
    products: int
    order_lines: int
    orders: int
    dirty_rows: int


def _pools(seed: int, size: int = 200) -> tuple[list[list[str]], list[list[str]]]:
    firsts, lasts = [], []
    for i, (loc, *_rest) in enumerate(LOCALES):
        fake = Faker(loc)
        fake.seed_instance(seed * 1000 + i)
        firsts.append([fake.first_name() for _ in range(size)])
        lasts.append([fake.last_name() for _ in range(size)])
    return firsts, lasts


def _timestamps(rng: np.random.Generator, n: int, end: datetime, days: int) -> pl.Series:
    seconds = rng.integers(0, days * 86400, n)
    start = end - timedelta(days=days)
    base = np.datetime64(start.replace(tzinfo=None), "us")
    return pl.Series("updated_at", base + seconds.astype("timedelta64[s]") + rng.integers(0, 1000, n).astype("timedelta64[ms]"))


def _dirty(rng: np.random.Generator, n: int, share: float, kinds: int) -> np.ndarray:
    """For each row: -1 when clean, else which of `kinds` kinds of dirt it gets."""
    out = np.full(n, -1, dtype=np.int64)
    hit = rng.random(n) < share
    out[hit] = rng.integers(0, kinds, int(hit.sum()))
    return out


def _ascii_or(column: str, fallback: str) -> pl.Expr:
    """The ASCII letters of a name for an email address; names in other scripts get a fallback."""
    letters = pl.col(column).str.to_lowercase().str.replace_all(r"[^a-z]", "")
    return pl.when(letters.str.len_chars() > 0).then(letters).otherwise(pl.lit(fallback))


def _customers(rng: np.random.Generator, n: int, end: datetime, days: int, share: float, firsts: Sequence[Sequence[str]],
               lasts: Sequence[Sequence[str]]) -> pl.DataFrame:
    loc = rng.integers(0, len(LOCALES), n)
    fi, li = rng.integers(0, len(firsts[0]), n), rng.integers(0, len(lasts[0]), n)
    # Names by joining the pools: no Python loop per row, so 10M customers take seconds.
    pools = pl.DataFrame({
        "loc": np.repeat(np.arange(len(LOCALES)), len(firsts[0])),
        "fi": np.tile(np.arange(len(firsts[0])), len(LOCALES)),
        "first_name": [x for pool in firsts for x in pool],
        "last_name": [x for pool in lasts for x in pool],
    })
    df = pl.DataFrame({"loc": loc, "fi": fi, "li": li, "n": np.arange(n)})
    df = df.join(pools.select("loc", "fi", "first_name"), on=["loc", "fi"], how="left", maintain_order="left")
    df = df.join(pools.select("loc", pl.col("fi").alias("li"), "last_name"), on=["loc", "li"], how="left", maintain_order="left")
    tags = pl.Series([t for _, t, _, _ in LOCALES])
    df = df.with_columns(
        pl.format("C{}", pl.col("n").cast(pl.String).str.zfill(8)).alias("customer_id"),
        pl.format("{}.{}{}@{}", _ascii_or("first_name", "customer"), _ascii_or("last_name", "shop"), pl.col("n"),
                  pl.Series(DOMAINS).gather(pl.Series(rng.integers(0, len(DOMAINS), n)))).alias("email"),
        pl.format("+{}{}", pl.lit("4479"), pl.Series(rng.integers(10_000_000, 99_999_999, n)).cast(pl.String)).alias("phone"),
        pl.lit(tags).gather(pl.col("loc")).alias("locale"),
        pl.Series(rng.random(n) < 0.7).alias("gdpr_consent"),
        pl.Series(rng.random(n) < 0.5).alias("email_opt_in"),
        pl.Series(rng.random(n) < 0.2).alias("sms_opt_in"),
        _timestamps(rng, n, end, days),
    )
    dirt = pl.Series(_dirty(rng, n, share, 7))
    d = pl.lit(dirt)
    df = df.with_columns(
        pl.when(d == 0).then(pl.col("email").str.replace("@", " at ")).when(d == 1).then(pl.format("  {} ", pl.col("email")))
        .when(d == 4).then(None).otherwise(pl.col("email")).alias("email"),
        pl.when(d == 2).then(pl.col("locale").str.replace("-", "_")).otherwise(pl.col("locale")).alias("locale"),
        pl.when(d == 3).then(pl.format("{}-{}", pl.col("customer_id"), pl.lit("x" * 100)))
        .when(d == 4).then(None).otherwise(pl.col("customer_id")).alias("customer_id"),
        pl.when(d == 5).then(pl.lit("0044 79 1112")).otherwise(pl.col("phone")).alias("phone"),
    )
    # Kind 6: an older version of the same customer, as slowly changing dimensions leave behind.
    dupes = df.filter(d == 6).with_columns(
        (pl.col("updated_at") - pl.duration(hours=1)).alias("updated_at"), pl.lit("Old").alias("last_name"))
    df = pl.concat([df, dupes])
    return df.select("customer_id", "email", "first_name", "last_name", "phone", "locale", "gdpr_consent",
                     "email_opt_in", "sms_opt_in", "updated_at")


def _catalog(rng: np.random.Generator, n_products: int, end: datetime, days: int, share: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(products, product_variants): 1-4 variants a product (none for about 1 in 50)."""
    per = rng.integers(1, 5, n_products)
    per[rng.random(n_products) < 0.02] = 0
    pid = np.repeat(np.arange(n_products), per)
    vno = np.concatenate([np.arange(k) for k in per])
    n = len(pid)
    loc = rng.integers(0, len(LOCALES), n_products)[pid]
    price = np.round(rng.uniform(3, 300, n_products), 2)[pid]
    products = pl.DataFrame({"p": np.arange(n_products)}).with_columns(
        pl.format("P{}", pl.col("p").cast(pl.String).str.zfill(6)).alias("product_id"),
        pl.format("Product {}", pl.col("p")).alias("product_name"),
        pl.lit(pl.Series(CATEGORIES)).gather(pl.col("p") % len(CATEGORIES)).alias("category"),
        (pl.col("p") % 17 == 0).alias("is_offline_exclusive"),
        _timestamps(rng, n_products, end, days),
    ).select("product_id", "product_name", "category", "is_offline_exclusive", "updated_at")
    df = pl.DataFrame({"p": pid, "v": vno, "loc": loc, "list_price": price})
    tags = pl.Series([t for _, t, _, _ in LOCALES])
    currencies = pl.Series([c for _, _, c, _ in LOCALES])
    df = df.with_columns(
        pl.format("P{}", pl.col("p").cast(pl.String).str.zfill(6)).alias("product_id"),
        pl.format("P{}-V{}", pl.col("p").cast(pl.String).str.zfill(6), pl.col("v")).alias("variant_id"),
        pl.format("SKU-{}-{}", pl.col("p"), pl.col("v")).alias("sku"),
        pl.lit(pl.Series(COLORS)).gather(pl.col("v") % len(COLORS)).alias("color"),
        pl.lit(pl.Series(SIZES)).gather(pl.col("v") % len(SIZES)).alias("size"),
        pl.format("https://shop.example.com/p/{}", pl.col("p")).alias("product_url"),
        pl.format("https://cdn.example.com/img/{}-{}.jpg", pl.col("p"), pl.col("v")).alias("image_url"),
        pl.lit("Acme").alias("brand"),
        pl.Series(rng.integers(0, 500, n)).alias("stock_quantity"),
        pl.lit(tags).gather(pl.col("loc")).alias("locale"),
        pl.lit(currencies).gather(pl.col("loc")).alias("currency"),
        (pl.col("list_price") * 0.9).round(2).alias("sale_price"),
        _timestamps(rng, n, end, days),  # a variant's own clock: stock and prices change in other hours
    ).with_columns((pl.col("stock_quantity") > 0).alias("is_available"),
                   pl.format("{} {}", pl.col("color"), pl.col("size")).alias("variant_name"))
    dirt = pl.Series(_dirty(rng, n, share, 6))
    d = pl.lit(dirt)
    df = df.with_columns(
        pl.when(d == 0).then(pl.col("currency").str.to_lowercase()).when(d == 3).then(None).otherwise(pl.col("currency")).alias("currency"),
        pl.when(d == 1).then(pl.col("locale").str.replace("-", "_")).otherwise(pl.col("locale")).alias("locale"),
        pl.when(d == 2).then(pl.lit("www.example.com/no-scheme")).otherwise(pl.col("product_url")).alias("product_url"),
        pl.when(d == 4).then(-pl.col("stock_quantity") - 1).otherwise(pl.col("stock_quantity")).alias("stock_quantity"),
    )
    # Kind 5: an older version of the variant (its stock before the last change), as change tables leave.
    older = df.filter(d == 5).with_columns((pl.col("updated_at") - pl.duration(hours=2)).alias("updated_at"),
                                           (pl.col("stock_quantity") + 3).alias("stock_quantity"))
    variants = pl.concat([df, older]).select(
        "product_id", "variant_id", "sku", "variant_name", "product_url", "image_url", "brand", "color", "size",
        "stock_quantity", "is_available", "locale", "list_price", "sale_price", "currency", "updated_at")
    return products, variants


def _orders(rng: np.random.Generator, n_orders: int, n_customers: int, products: pl.DataFrame, variants: pl.DataFrame,
            end: datetime, days: int, share: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(orders, order_lines): 1-7 lines an order (none for about 1 in 100: a cart closed empty)."""
    lines = rng.integers(1, 8, n_orders)
    lines[rng.random(n_orders) < 0.01] = 0
    oid = np.repeat(np.arange(n_orders), lines)
    lno = np.concatenate([np.arange(k) for k in lines]) if n_orders else np.array([], dtype=np.int64)
    n = len(oid)
    cust = rng.integers(0, max(n_customers, 1), n_orders)
    loc = rng.integers(0, len(LOCALES), n_orders)
    pick = rng.integers(0, max(variants.height, 1), n)
    names = products.select("product_id", "product_name")
    v = variants.select("product_id", "variant_id", "sku", "list_price")[pick].join(
        names, on="product_id", how="left", maintain_order="left")
    ts = _timestamps(rng, n_orders, end, days)
    offsets = pl.Series([o for *_, o in LOCALES]).gather(pl.Series(loc))
    currencies = pl.Series([c for _, _, c, _ in LOCALES]).gather(pl.Series(loc))
    orders = pl.DataFrame({"o": np.arange(n_orders), "cust": cust}).with_columns(
        ts.alias("updated_at"), offsets.alias("offset"), currencies.alias("currency"),
        pl.Series(STATUSES).gather(pl.Series(rng.integers(0, len(STATUSES), n_orders))).alias("status"))
    # The order time is written in the shop's local time with its offset, as many systems do.
    local = orders.select(
        pl.col("o"),
        (pl.col("updated_at") - pl.duration(minutes=5)).alias("utc"),
        pl.col("offset"),
    ).with_columns(
        (pl.col("utc") + pl.duration(hours=pl.col("offset").str.slice(0, 3).cast(pl.Int64))).dt.strftime("%Y-%m-%dT%H:%M:%S").alias("local")
    )
    orders = orders.join(local.select("o", pl.format("{}{}", "local", "offset").alias("ordered_at")), on="o", maintain_order="left")
    # Order-level dirt: lowercase, unknown and non-money currencies, and order times written
    # without their offset.
    od = pl.lit(pl.Series(_dirty(rng, n_orders, share, 4)))
    orders = orders.with_columns(
        pl.when(od == 0).then(pl.col("currency").str.to_lowercase()).when(od == 1).then(pl.lit("ABC"))
        .when(od == 2).then(pl.lit("XXX")).otherwise(pl.col("currency")).alias("currency"),
        pl.when(od == 3).then(pl.col("ordered_at").str.slice(0, 19).str.replace("T", " ")).otherwise(pl.col("ordered_at")).alias("ordered_at"),
        pl.format("O{}", pl.col("o").cast(pl.String).str.zfill(8)).alias("order_id"),
        pl.format("C{}", pl.col("cust").cast(pl.String).str.zfill(8)).alias("customer_id"),
    )
    df = pl.concat([pl.DataFrame({"o": oid, "line": lno}), v], how="horizontal").with_columns(
        pl.format("O{}", pl.col("o").cast(pl.String).str.zfill(8)).alias("order_id"),
        pl.format("O{}-{}", pl.col("o").cast(pl.String).str.zfill(8), pl.col("line")).alias("line_id"),
        pl.Series(rng.integers(1, 4, n)).alias("quantity"),
        (pl.col("list_price") * pl.Series(rng.choice([1.0, 1.0, 0.9, 0.8], n))).round(2).alias("unit_price"),
    )
    # Line-level dirt: negative quantities (returns booked as lines).
    d = pl.lit(pl.Series(_dirty(rng, n, share / 4, 1)))
    df = df.with_columns(pl.when(d == 0).then(-pl.col("quantity")).otherwise(pl.col("quantity")).alias("quantity"))
    return (orders.select("order_id", "customer_id", "currency", "ordered_at", "status", "updated_at"),
            df.select("order_id", "line_id", "product_id", "variant_id", "sku", "product_name", "quantity",
                      "unit_price", "list_price"))


def build_demo_warehouse(path: str | Path, customers: int = 10_000, seed: int = 42, days: int = 7,
                         orders: int | None = None, dirty_share: float = 0.02, end: datetime | None = None) -> DemoCounts:
    """Write the demo warehouse to `path` (replacing it). `end` defaults to the start of today, UTC."""
    if customers < 1 or days < 1:
        raise ValueError("--customers and --days must be at least 1")
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = np.random.default_rng(seed)
    firsts, lasts = _pools(seed)
    cust = _customers(rng, customers, end, days, dirty_share, firsts, lasts)
    n_products = max(20, customers // 50)
    products, variants = _catalog(rng, n_products, end, days, dirty_share)
    n_orders = orders if orders is not None else max(10, customers // 2)
    order_table, lines = _orders(rng, n_orders, customers, products, variants, end, days, dirty_share)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".wal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        for name, frame in (("customers", cust), ("products", products), ("product_variants", variants),
                            ("orders", order_table), ("order_lines", lines)):
            con.register("frame", frame.to_arrow())
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM frame')  # noqa: S608 - fixed names
            con.unregister("frame")
    dirty = int(cust.height - customers)  # customer duplicates; the rest is counted by validation, not guessed here
    return DemoCounts(customers=cust.height, product_variants=variants.height, products=n_products,
                      order_lines=lines.height, orders=n_orders, dirty_rows=dirty)
