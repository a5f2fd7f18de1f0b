"""docker-compose.yml, checked as data: no Docker engine runs on our machines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cartsim.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("worker", "api", "producer")


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_kafka_is_apache_kafka_in_kraft_mode_with_a_healthcheck() -> None:
    kafka = compose()["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert "kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])


def test_cartsim_services_use_our_image_and_wait_for_a_healthy_kafka() -> None:
    services = compose()["services"]
    for name in SERVICES:
        service = services[name]
        assert service["build"] == ".", name
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy", name
        env = service["environment"]
        assert env["CARTSIM_KAFKA_BOOTSTRAP"] == "kafka:9092", name
        assert env["CARTSIM_DATA_DIR"] == "/data", name
        assert float(env["CARTSIM_SESSION_TIMEOUT_S"]) >= 6, f"{name}: Kafka's minimum is 6 s"
        assert "shared_data:/data" in service["volumes"], name
        command = service["command"]
        assert command[0] == "cartsim" and command[1] in cli.commands, name
    assert "8000:8000" in services["api"]["ports"]
    assert "--host" in services["api"]["command"]


def test_the_image_installs_the_lock_file_and_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.lock" in dockerfile
    for package in ("cartsim", "producer", "stream_processors", "api", "cli", "tail"):
        assert f"COPY {package} ./{package}" in dockerfile
