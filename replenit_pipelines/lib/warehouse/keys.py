"""Record keys: the source column a read selects whole records by (an order's or a product's
id; a customer's CustomerId, else Email)."""



from replenit_pipelines.lib.warehouse.mapping import (
    EntityMapping,
    MappingError,
)


def record_key_column(mapping: EntityMapping) -> str | None:
    """The source column behind the record's id (OrderId, ProductId) for entities whose records
    span several rows; None for customers (one row per record)."""
    spec = mapping.spec
    if spec.children_field is None:
        return None
    field = next((f for f in mapping.fields if f.target == spec.key_field), None)
    if field is None or field.column is None:
        how = "an expr" if field is not None and field.expr is not None else "a constant"
        raise MappingError(
            f"{mapping.origin}: {mapping.entity}.{spec.key_field} is {how}, but it must be a column: a window reads "  # noqa: S608 - an example in a message, not executed
            f"every row of each record it touches by that column. Map {spec.key_field} to a column, or use a "
            f"`query:` source that computes the id as a column (SELECT *, <expression> AS order_key FROM ...)"
        )
    return field.column


def read_key_column(mapping: EntityMapping) -> str | None:
    """The column a window reads whole records by: the record key for orders and products; for
    customers the plain column behind CustomerId, else behind Email, else None (then only the
    window's rows are read: a customer identified by an expr or a constant cannot be looked up)."""
    if mapping.spec.children_field is not None:
        return record_key_column(mapping)
    by_target = {f.target: f for f in mapping.fields}
    for target in ("CustomerId", "Email"):
        field = by_target.get(target)
        if field is not None and field.column is not None:
            return field.column
    return None
