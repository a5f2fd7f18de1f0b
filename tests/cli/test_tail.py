"""`cartsim tail` as users run it: in a pipe, with filters, stopped by Ctrl-C or its count."""

from __future__ import annotations

import asyncio
import select
import signal

import orjson

from cartsim.broker import EmbeddedBroker, free_port
from tests.cli.test_cli import cartsim, cartsim_running
from tests.topic import read_event_ids


def produced(broker: EmbeddedBroker, count: int = 400) -> list[dict[str, object]]:
    result = cartsim(
        "produce", "--count", str(count), "--seed", "4", CARTSIM_KAFKA_BOOTSTRAP=broker.bootstrap
    )
    assert result.returncode == 0, result.stderr
    ids = asyncio.run(read_event_ids(broker.bootstrap, "cart-events", count, 30))
    return [{"event_id": event_id} for event_id in ids]


def test_a_pipe_gets_the_topic_values_as_json_lines(broker: EmbeddedBroker) -> None:
    on_topic = {e["event_id"] for e in produced(broker)}
    result = cartsim("tail", "--bootstrap", broker.bootstrap, "--from-beginning", "--count", "50")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 50 and "\x1b[" not in result.stdout, "plain JSON lines, no colour"
    events = [orjson.loads(line) for line in lines]
    assert {e["event_id"] for e in events} <= on_topic

    chosen = cartsim(
        "tail",
        "--from-beginning",
        "--count",
        "5",
        "--event-type",
        "add_to_cart",
        "--event-type",
        "search",
        CARTSIM_KAFKA_BOOTSTRAP=broker.bootstrap,
    )
    kinds = [orjson.loads(line)["event_type"] for line in chosen.stdout.splitlines()]
    assert len(kinds) == 5 and set(kinds) <= {"add_to_cart", "search"}

    session = events[0]["session_id"]
    own = cartsim(
        "tail",
        "--bootstrap",
        broker.bootstrap,
        "--from-beginning",
        "--count",
        "2",
        "--session",
        str(session),
    )
    assert {orjson.loads(line)["session_id"] for line in own.stdout.splitlines()} == {session}

    table = cartsim(
        "tail",
        "--bootstrap",
        broker.bootstrap,
        "--from-beginning",
        "--count",
        "4",
        "--format",
        "table",
    )
    header, *rows = table.stdout.splitlines()
    assert header.split()[:3] == ["time", "p:offset", "event_type"] and len(rows) == 4
    assert "\x1b[" not in table.stdout


def test_ctrl_c_stops_a_live_tail_cleanly(broker: EmbeddedBroker) -> None:
    produced(broker, 100)
    env = {"CARTSIM_KAFKA_BOOTSTRAP": broker.bootstrap}
    with cartsim_running("tail", **env) as follower:
        assert follower.stdout is not None and follower.stderr is not None
        for seed in range(5, 15):  # until the tail, once positioned at the end, sees new events
            assert cartsim("produce", "--count", "100", "--seed", str(seed), **env).returncode == 0
            if select.select([follower.stdout], [], [], 5)[0]:
                break
        first = orjson.loads(follower.stdout.readline())  # live: one of the new events
        assert first["event_id"].startswith("evt_")
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 0
        assert "Traceback" not in follower.stderr.read().decode()


def test_mistakes_are_one_readable_line(broker: EmbeddedBroker) -> None:
    bad_type = cartsim("tail", "--event-type", "teleport", CARTSIM_KAFKA_BOOTSTRAP=broker.bootstrap)
    assert bad_type.returncode == 2 and "--event-type" in bad_type.stderr
    nobody = cartsim("tail", "--bootstrap", f"127.0.0.1:{free_port()}")
    assert nobody.returncode == 1 and nobody.stderr.startswith("error:")
    missing = cartsim("tail", "--topic", "no-such-topic", CARTSIM_KAFKA_BOOTSTRAP=broker.bootstrap)
    assert missing.returncode == 1 and "no topic 'no-such-topic'" in missing.stderr
    for result in (bad_type, nobody, missing):
        assert "Traceback" not in result.stderr
