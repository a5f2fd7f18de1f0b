"""Target and header option values: what is accepted, and what is refused with a reason."""

from __future__ import annotations

import click
import pytest

from cartsim.producer.options import KafkaAddress, destination, header, http_url, kafka_address


def test_targets_parse() -> None:
    ctx = click.Context(click.Command("x"))
    option = click.Option(["--to"])
    assert destination(ctx, option, "kafka").address is None
    remote = destination(ctx, option, "kafka://a:9092,b:9093/cart-events.v1")
    assert remote.address == KafkaAddress("a:9092,b:9093", "cart-events.v1")
    assert (
        destination(ctx, option, "https://hooks.example/in?x=1").url
        == "https://hooks.example/in?x=1"
    )
    assert str(destination(ctx, option, "file:out.jsonl")) == "out.jsonl"
    with pytest.raises(click.BadParameter, match="use kafka, kafka://HOST:PORT/TOPIC"):
        destination(ctx, option, "s3://bucket")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("kafka://host/topic", "use kafka://HOST:PORT/TOPIC"),
        ("kafka://host:1/", "is not a Kafka topic name"),
        ("kafka://host:1/a b", "is not a Kafka topic name"),
    ],
)
def test_bad_kafka_addresses(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        kafka_address(value)


@pytest.mark.parametrize("value", ["http://", "http://host:99999/", "https:///path"])
def test_bad_urls(value: str) -> None:
    with pytest.raises(ValueError, match="is not a valid URL"):
        http_url(value)


def test_headers() -> None:
    ctx, option = click.Context(click.Command("x")), click.Option(["--header"])
    assert header(ctx, option, ("Authorization: Bearer a:b", "X-K:v")) == {
        "Authorization": "Bearer a:b",
        "X-K": "v",
    }
    with pytest.raises(click.BadParameter, match="use NAME:VALUE"):
        header(ctx, option, (":v",))
