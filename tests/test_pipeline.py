"""The whole path on a real embedded broker: producer -> topic -> worker -> files -> API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from cartsim.broker import EmbeddedBroker, free_port
from tests.conftest import Services, wait_until
from tests.stored import stored_id_counts
from tests.topic import topic_event_ids

COUNT = 5_000


def api_event_ids(api_url: str) -> list[str]:
    ids: list[str] = []
    offset: int | None = 0
    with httpx.Client(base_url=api_url, timeout=30) as client:
        while offset is not None:
            page = client.get("/cart/events", params={"limit": 1000, "offset": offset})
            page.raise_for_status()
            body = page.json()
            assert body["total"] == COUNT
            ids.extend(item["event_id"] for item in body["items"])
            offset = body["next_offset"]
    return ids


def test_every_produced_event_lands_once_and_is_served(services: Services) -> None:
    services.start("worker")
    api = services.start("api")

    produced = services.run("produce", "--count", str(COUNT), "--seed", "7")
    assert produced.returncode == 0, produced.stderr
    on_topic = topic_event_ids(services.env["CARTSIM_KAFKA_BOOTSTRAP"], "cart-events", COUNT)
    assert len(on_topic) == COUNT and len(set(on_topic)) == COUNT

    counts = wait_until(
        lambda: (c := stored_id_counts(services.data_dir)) and sum(c.values()) >= COUNT and c,
        timeout=90,
        what=f"{COUNT} events in the sink files",
    )
    assert set(counts) == set(on_topic)
    assert set(counts.values()) == {1}, "an event was stored more than once"

    assert api.poll() is None

    def api_total() -> bool:
        try:
            body = httpx.get(f"{services.api_url}/cart/events", params={"limit": 1}).json()
        except httpx.HTTPError:
            return False
        return body["total"] == COUNT

    wait_until(api_total, timeout=30, what="the API to serve every stored event")
    served = api_event_ids(services.api_url)
    assert len(served) == COUNT and set(served) == set(on_topic)


def child_pids(pid: int) -> set[int]:
    """Direct children of `pid`, from /proc (children run in their own sessions)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.add(int(entry.name))
    return children


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@contextmanager
def running_up(tmp_path: Path, port: int, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`cartsim up` on a free port over `tmp_path`, killed at the end if still running."""
    environment = {
        **{k: v for k, v in os.environ.items() if k != "CARTSIM_KAFKA_BOOTSTRAP"},
        "CARTSIM_DATA_DIR": str(tmp_path),
        "CARTSIM_WORKER_PORT": str(free_port()),
        "CARTSIM_SEGMENT_MAX_AGE_S": "1",
        **env,
    }
    # Started as a shell without job control starts a background command: SIGINT ignored.
    inherited = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with (tmp_path / "up.log").open("wb") as log:
            up = subprocess.Popen(
                [sys.executable, "-m", "cartsim.cli", "up", "--port", str(port), "--rate", "200"],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    finally:
        signal.signal(signal.SIGINT, inherited)
    try:
        yield up
    finally:
        if up.poll() is None:
            children = child_pids(up.pid)  # own sessions: killing `up` does not reach them
            up.kill()
            up.wait()
            for pid in children:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_up_runs_everything_and_a_signal_stops_every_child(
    tmp_path: Path, signum: signal.Signals
) -> None:
    port = free_port()
    with running_up(tmp_path, port) as up:
        children = wait_until(lambda: len(c := child_pids(up.pid)) == 4 and c, 30, "4 children")

        def served() -> int:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/cart/events?limit=1").json()["total"]
            except httpx.HTTPError:
                return 0

        wait_until(served, 60, "live events served by the API")
        up.send_signal(signum)
        assert up.wait(timeout=60) == 0
        wait_until(lambda: not any(alive(pid) for pid in children), 5, "children to be gone")
        assert "API   http://127.0.0.1:" in (tmp_path / "up.log").read_text()


def test_up_with_a_bootstrap_uses_that_kafka_and_starts_no_broker(
    tmp_path: Path, broker: EmbeddedBroker
) -> None:
    with running_up(tmp_path, free_port(), CARTSIM_KAFKA_BOOTSTRAP=broker.bootstrap) as up:
        children = wait_until(lambda: len(c := child_pids(up.pid)) == 3 and c, 30, "3 children")
        names = {Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[3] for pid in children}
        assert names == {b"worker", b"api", b"produce"}
        wait_until(lambda: stored_id_counts(tmp_path), 60, "events through the given Kafka")
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0
        assert f"using Kafka at {broker.bootstrap}" in (tmp_path / "up.log").read_text()
