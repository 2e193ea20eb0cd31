"""The three entities of the Ingestion API as data: fields, types, limits and entity rules.

Transcribed from shared/replenit-api.md ("Entities"). The sandbox validates requests against
these specs, the pipeline builds its pandera schemas from them, and the client takes its batch
limits from them: a correction to the contract is made here, once.
"""

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    STRING = "string"
    BOOL = "bool"
    INT = "int"  # integer >= minimum, within a signed 32-bit integer (INT32_MIN..INT32_MAX)
    NUMBER = "number"  # finite number >= minimum
    TIMESTAMP = "timestamp"
    CURRENCY = "currency"
    LANGUAGE = "language"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    STRING_LIST = "string_list"
    CHILDREN = "children"


# [assumed] The service is .NET and binds integer fields to System.Int32: a JSON integer outside
# these bounds fails with "could not be converted to System.Int32". Quarantined as rule `range`.
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    max_length: int | None = None
    required: bool = False
    minimum: float | None = None
    choices: tuple[str, ...] = ()
    children: "EntitySpec | None" = None
    # Trimmed as an Email is, without the address rule: an order's Email, which must equal its
    # customer's (trimmed) Email to link the order to it.
    trimmed: bool = False


@dataclass(frozen=True)
class EntitySpec:
    name: str  # "customers", "orders", "products", or a child name
    fields: tuple[FieldSpec, ...]
    key_field: str | None = None
    # At least one of these must have a value (Customer: CustomerId or Email).
    one_of_required: tuple[str, ...] = ()
    # field -> fields that, when any has a value, make it required (variant Currency with a price).
    required_with: dict[str, tuple[str, ...]] = field(default_factory=dict)
    path: str = ""
    hard_max: int = 0
    recommended_batch: int = 0
    saved_message: str = ""
    singular: str = ""
    # Fields the pipeline computes from the children when the warehouse does not give them
    # (name -> how), so they are never sent missing (lib/validation/prepare.py computes them).
    derived: dict[str, str] = field(default_factory=dict)
    # A child's identity within its parent: the fields two versions of one variant share (the
    # newest version wins when a window holds both), when the mapping names no child key. Empty:
    # the API gives the child no identity (an order line), so only rows equal in every mapped
    # child field are versions of one child; distinct lines of one product are never merged.
    identity_fields: tuple[str, ...] = ()

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def children_field(self) -> FieldSpec | None:
        return next((f for f in self.fields if f.kind is Kind.CHILDREN), None)


def _s(name: str, n: int, required: bool = False) -> FieldSpec:
    return FieldSpec(name, Kind.STRING, max_length=n, required=required)


CUSTOMER = EntitySpec(
    name="customers",
    path="customers",
    key_field="CustomerId",
    singular="Customer",
    fields=(
        _s("CustomerId", 100),
        FieldSpec("Email", Kind.EMAIL, max_length=256),
        _s("Name", 100),
        _s("Surname", 100),
        FieldSpec("Phone", Kind.PHONE, max_length=32),
        FieldSpec("GdprOptin", Kind.BOOL),
        FieldSpec("EmailOptin", Kind.BOOL),
        FieldSpec("SmsOptin", Kind.BOOL),
        FieldSpec("WhatsappOptin", Kind.BOOL),
        FieldSpec("Language", Kind.LANGUAGE, max_length=10),
    ),
    one_of_required=("CustomerId", "Email"),
    hard_max=1000,
    recommended_batch=500,
    saved_message="Customers saved.",
)

ORDER_ITEM = EntitySpec(
    name="OrderItems",
    fields=(
        _s("ProductId", 100, required=True),
        _s("VariantId", 100),
        _s("Sku", 100),
        _s("ProductName", 200),
        FieldSpec("Quantity", Kind.INT, required=True, minimum=1),
        FieldSpec("Price", Kind.NUMBER, minimum=0),
        FieldSpec("OriginalPrice", Kind.NUMBER, minimum=0),
    ),
)

ORDER_STATUSES = ("completed", "cancelled", "refunded")

ORDER = EntitySpec(
    name="orders",
    path="orders",
    key_field="OrderId",
    singular="Order",
    fields=(
        _s("OrderId", 100, required=True),
        # The contract gives an order's CustomerId and Email as plain strings (no length, no format):
        # they link the order to a customer by the tenant's priority, and an order is stored either way.
        FieldSpec("CustomerId", Kind.STRING),
        FieldSpec("Email", Kind.STRING, trimmed=True),
        FieldSpec("Currency", Kind.CURRENCY, max_length=3, required=True),
        FieldSpec("OrderDate", Kind.TIMESTAMP),
        FieldSpec("TotalRevenue", Kind.NUMBER, minimum=0),
        FieldSpec("TotalQuantity", Kind.INT, minimum=0),
        FieldSpec("UniqueQuantity", Kind.INT, minimum=0),
        FieldSpec("Status", Kind.STRING, choices=ORDER_STATUSES),
        FieldSpec("OrderItems", Kind.CHILDREN, children=ORDER_ITEM),
    ),
    hard_max=500,
    recommended_batch=200,
    saved_message="Orders saved.",
    derived={
        "TotalRevenue": "derived: sum of OrderItems Quantity x Price",
        "TotalQuantity": "derived: sum of OrderItems Quantity",
        "UniqueQuantity": "derived: distinct OrderItems ProductId",
    },
)

PRODUCT_VARIANT = EntitySpec(
    name="ProductVariants",
    key_field="VariantId",
    identity_fields=("VariantId",),
    fields=(
        _s("VariantId", 100, required=True),
        _s("Sku", 100),
        _s("VariantName", 200),
        FieldSpec("ProductUrl", Kind.URL, max_length=2048),
        FieldSpec("ImageUrl", Kind.URL, max_length=2048),
        _s("Brand", 100),
        _s("Color", 100),
        _s("Size", 100),
        FieldSpec("StockQuantity", Kind.INT, minimum=0),
        FieldSpec("IsAvailable", Kind.BOOL),
        FieldSpec("Language", Kind.LANGUAGE, max_length=10),
        FieldSpec("OriginalPrice", Kind.NUMBER, minimum=0),
        FieldSpec("SalePrice", Kind.NUMBER, minimum=0),
        FieldSpec("Currency", Kind.CURRENCY, max_length=3),
    ),
    required_with={"Currency": ("OriginalPrice", "SalePrice")},
)

PRODUCT = EntitySpec(
    name="products",
    path="products",
    key_field="ProductId",
    singular="Product",
    fields=(
        _s("ProductId", 100, required=True),
        _s("ProductName", 200),
        FieldSpec("Taxonomy", Kind.STRING_LIST),
        FieldSpec("IsOfflineExclusive", Kind.BOOL),
        FieldSpec("ProductVariants", Kind.CHILDREN, required=True, children=PRODUCT_VARIANT),
    ),
    hard_max=200,
    recommended_batch=100,
    saved_message="Products saved.",
)

ENTITIES: dict[str, EntitySpec] = {e.name: e for e in (CUSTOMER, ORDER, PRODUCT)}


def check_entity_name(name: str | None, where: str) -> None:
    """A ValueError naming the entities when `name` is given and is none of them (`where`: what asked,
    a command's name)."""
    if name is not None and name not in ENTITIES:
        raise ValueError(f"{where}: unknown entity {name!r}; expected one of {', '.join(ENTITIES)}")


def entity(name: str) -> EntitySpec:
    try:
        return ENTITIES[name]
    except KeyError:
        raise ValueError(
            f"unknown entity {name!r}: expected one of {', '.join(ENTITIES)}"
        ) from None
