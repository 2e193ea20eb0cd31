"""Column types as SQL names (DuckDB's spelling), for column schemas a person reads in a catalog:
`TIMESTAMP`, not Polars' `Datetime(time_unit='us', time_zone=None)`."""

from typing import Any

import polars as pl

_SIMPLE = {
    pl.Int8: "TINYINT", pl.Int16: "SMALLINT", pl.Int32: "INTEGER", pl.Int64: "BIGINT", pl.Int128: "HUGEINT",
    pl.UInt8: "UTINYINT", pl.UInt16: "USMALLINT", pl.UInt32: "UINTEGER", pl.UInt64: "UBIGINT",
    pl.Float32: "REAL", pl.Float64: "DOUBLE", pl.Boolean: "BOOLEAN", pl.String: "VARCHAR", pl.Categorical: "VARCHAR",
    pl.Date: "DATE", pl.Time: "TIME", pl.Duration: "INTERVAL", pl.Binary: "BLOB", pl.Null: "NULL",
}
MAX_CHARS = 60  # a longer STRUCT is written with its field count; the column's description names its fields


def sql_type(dtype: Any) -> str:
    """`dtype`: a Polars data type (an instance or the class)."""
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP WITH TIME ZONE" if dtype.time_zone else "TIMESTAMP"
    if isinstance(dtype, pl.Decimal):
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    if isinstance(dtype, pl.Enum):
        return "VARCHAR"
    if isinstance(dtype, pl.List | pl.Array):
        return f"{sql_type(dtype.inner)}[]"
    if isinstance(dtype, pl.Struct):
        text = "STRUCT(" + ", ".join(f"{f.name} {sql_type(f.dtype)}" for f in dtype.fields) + ")"
        return text if len(text) <= MAX_CHARS else f"STRUCT({len(dtype.fields)} fields)"
    for kind, name in _SIMPLE.items():
        if dtype == kind:
            return name
    return str(dtype).upper()
