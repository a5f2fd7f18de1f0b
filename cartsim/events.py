"""The cart event record: the one definition that the producer, the processors and the API share.

The first fifteen fields are the public contract users already consume; they are never renamed
or dropped. The fields after them carry extra information and are optional. `EVENT_FIELDS`
describes each field for the stores (the API's DuckDB columns and checks, the reference table in
docs/events.md), so the model is the one place a field is defined.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import NoneType, UnionType
from typing import Literal, Union, get_args, get_origin

from annotated_types import Ge
from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

EventType = Literal[
    "view_item",
    "search",
    "scroll",
    "add_to_cart",
    "remove_from_cart",
    "update_quantity",
    "add_to_wish_list",
    "begin_checkout",
    "add_shipping_info",
    "add_payment_info",
    "purchase",
    "payment_failed",
    "order_cancelled",
    "exit_page",
]
Source = Literal["website", "mobile_app", "mobile_web"]
Device = Literal["desktop", "mobile", "tablet"]
PaymentMethod = Literal["cod", "momo", "zalopay", "vnpay", "bank_card", "bank_transfer"]

EVENT_TYPES: tuple[str, ...] = get_args(EventType)
SOURCES: tuple[str, ...] = get_args(Source)
DEVICES: tuple[str, ...] = get_args(Device)
PAYMENT_METHODS: tuple[str, ...] = get_args(PaymentMethod)


class CartEvent(BaseModel):
    """One thing a shopper did in one session, as it travels on the topic and lands in files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(
        description="Unique id of this event: evt_, the session's 16 hex digits, then the "
        "event's number in the session as 4 hex digits."
    )
    event_type: EventType = Field(description="What the shopper did.")
    timestamp: datetime = Field(description="ISO 8601 instant with its UTC offset (+07:00).")
    timestamp_unix: int = Field(description="The same instant in milliseconds since the epoch.")
    session_id: str = Field(
        description="Shopping session (sess_ and 16 hex digits); the Kafka key."
    )
    customer_id: int | None = Field(description="Registered customer id; null for guests.")
    is_guest: bool = Field(description="The shopper is not signed in (customer_id is null).")
    source: Source = Field(description="Which storefront the session is on.")
    device: Device = Field(description="The shopper's kind of device.")
    browser: str = Field(description="Browser or app, e.g. Chrome, Cốc Cốc, TechStore App (iOS).")
    product_id: int | None = Field(description="Null for events about no single product.")
    product_name: str | None = Field(description="The product's catalog name.")
    product_price_vnd: int | None = Field(ge=0, description="The product's unit price, in VND.")
    quantity: int | None = Field(
        ge=1, description="Units of the cart line, on add, remove and update events."
    )
    line_total_vnd: int | None = Field(ge=0, description="product_price_vnd x quantity.")

    category: str | None = Field(default=None, description="The product's category.")
    brand: str | None = Field(default=None, description="The product's brand.")
    search_query: str | None = Field(default=None, description="What a search event searched.")
    cart_total_vnd: int | None = Field(
        default=None, ge=0, description="Value of the cart after a cart event, and at checkout."
    )
    order_id: str | None = Field(
        default=None, description="The order a purchase made (ORD- and 12 hex digits)."
    )
    payment_method: PaymentMethod | None = Field(
        default=None, description="Chosen at add_payment_info, kept until the purchase."
    )
    city: str | None = Field(default=None, description="The shopper's city.")


@dataclass(frozen=True)
class EventField:
    """One field of `CartEvent` as a store of events types and checks it."""

    name: str
    type: type  # str, int, bool or datetime
    choices: tuple[str, ...]  # the allowed values of an enumerated field; empty otherwise
    nullable: bool
    minimum: int | None  # least allowed value of a number
    public: bool  # one of the public fields, present in every event
    description: str


_UNIONS = (Union, UnionType)
#: The Python types of event values the stores have column types for.
_KINDS: dict[object, type] = {kind: kind for kind in (str, int, bool, datetime)}


def _event_field(model: str, name: str, info: FieldInfo) -> EventField:
    union = get_origin(info.annotation) in _UNIONS
    members = get_args(info.annotation) if union else (info.annotation,)
    values = [member for member in members if member is not NoneType]
    base = values[0]
    choices: tuple[str, ...] = get_args(base) if get_origin(base) is Literal else ()
    kind = _KINDS.get(str if choices else base)  # an enumerated field's values are text
    if kind is None or len(values) > 1 or not all(isinstance(c, str) for c in choices):
        raise TypeError(f"{model}.{name}: {info.annotation} has no column type")
    minimum = None
    for constraint in info.metadata:
        if not isinstance(constraint, Ge) or not isinstance(constraint.ge, int):
            raise TypeError(f"{model}.{name}: {constraint!r} is not checked by the stores")
        minimum = constraint.ge
    return EventField(
        name=name,
        type=kind,
        choices=choices,
        nullable=len(values) < len(members),
        minimum=minimum,
        public=info.is_required(),
        description=info.description or "",
    )


def fields_of(model: type[BaseModel]) -> tuple[EventField, ...]:
    """The fields of `model`; TypeError for a type or a constraint the stores cannot keep."""
    return tuple(
        _event_field(model.__name__, name, info) for name, info in model.model_fields.items()
    )


#: Every field of `CartEvent`, in the order of every serialised record. Stores derive their
#: columns and checks from these; a constraint they could not check fails here, at import.
EVENT_FIELDS = fields_of(CartEvent)

#: Public fields, in the order they appear in every serialised record.
PUBLIC_FIELDS: tuple[str, ...] = tuple(field.name for field in EVENT_FIELDS if field.public)
