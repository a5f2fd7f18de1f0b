"""The cart event record: the one definition that the producer, the processors and the API share.

The first fifteen fields are the public contract users already consume; they are never renamed
or dropped. The fields after them carry extra information and are optional.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

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

#: Public fields, in the order they appear in every serialised record.
PUBLIC_FIELDS: tuple[str, ...] = (
    "event_id",
    "event_type",
    "timestamp",
    "timestamp_unix",
    "session_id",
    "customer_id",
    "is_guest",
    "source",
    "device",
    "browser",
    "product_id",
    "product_name",
    "product_price_vnd",
    "quantity",
    "line_total_vnd",
)


class CartEvent(BaseModel):
    """One thing a shopper did in one session, as it travels on the topic and lands in files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(description="Unique id of this event.")
    event_type: EventType
    timestamp: datetime = Field(description="ISO 8601 instant with its UTC offset.")
    timestamp_unix: int = Field(description="The same instant in milliseconds since the epoch.")
    session_id: str = Field(description="Shopping session; the Kafka message key.")
    customer_id: int | None = Field(description="Registered customer id; null for guests.")
    is_guest: bool
    source: Source
    device: Device
    browser: str
    product_id: int | None = Field(description="Null for events about no single product.")
    product_name: str | None
    product_price_vnd: int | None = Field(ge=0)
    quantity: int | None = Field(ge=1)
    line_total_vnd: int | None = Field(ge=0, description="product_price_vnd x quantity.")

    category: str | None = None
    brand: str | None = None
    search_query: str | None = None
    cart_total_vnd: int | None = Field(default=None, ge=0)
    order_id: str | None = None
    payment_method: PaymentMethod | None = None
    city: str | None = None
