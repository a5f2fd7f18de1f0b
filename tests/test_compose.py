"""docker-compose.yml, checked as data: no Docker engine runs on our machines."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from cartsim.cli import cli
from cartsim.settings import Settings

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


def _yaml(path: str) -> Any:
    return yaml.safe_load((ROOT / path).read_text())


def _exported_metrics() -> set[str]:
    """Every sample name the API, the worker and the producers can export: the family names
    written in their metrics modules, with the suffixes prometheus-client adds."""
    names: set[str] = set()
    for module in ("api/metrics.py", "stream_processors/metrics.py", "producer/metrics.py"):
        names.update(re.findall(r'"(cartsim_[a-z_]+)"', (ROOT / module).read_text()))
    return {name + suffix for name in names for suffix in ("", "_total", "_bucket", "_count")}


def test_prometheus_scrapes_the_api_every_worker_and_the_producer() -> None:
    services = compose()["services"]
    prometheus = services["prometheus"]
    mounted = dict(volume.removesuffix(":ro").split(":") for volume in prometheus["volumes"])
    assert mounted["./deploy/prometheus.yml"] in " ".join(prometheus["command"])
    jobs = {job["job_name"]: job for job in _yaml("deploy/prometheus.yml")["scrape_configs"]}
    assert jobs["cartsim-api"]["static_configs"][0]["targets"] == ["api:8000"]
    api = services["api"]["command"]
    assert api[api.index("--port") + 1] == "8000"
    worker = jobs["cartsim-worker"]["dns_sd_configs"][0]
    assert worker["names"] == ["worker"] and worker["port"] == Settings().worker_port
    assert services["worker"]["environment"]["CARTSIM_WORKER_HOST"] == "0.0.0.0"
    producer = jobs["cartsim-producer"]["static_configs"][0]["targets"]
    command = services["producer"]["command"]
    assert producer == [f"producer:{command[command.index('--metrics-port') + 1]}"]
    for job in jobs.values():
        assert job.get("metrics_path", "/metrics") == "/metrics"


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    grafana = compose()["services"]["grafana"]
    mounts = dict(volume.removesuffix(":ro").split(":") for volume in grafana["volumes"])
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert all((ROOT / host).is_dir() for host in mounts)
    (source,) = _yaml("deploy/grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert "9090:9090" in compose()["services"]["prometheus"]["ports"]
    (provider,) = _yaml("deploy/grafana/provisioning/dashboards/cartsim.yml")["providers"]
    assert provider["options"]["path"] == mounts["./deploy/grafana/dashboards"]
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/cartsim.json").read_text())
    assert dashboard["uid"] == "cartsim" and dashboard["panels"]
    exported = _exported_metrics()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"]
            used = set(re.findall(r"\bcartsim_[a-z_]+", target["expr"]))
            assert used and used <= exported, (panel["title"], used - exported)


def settings_of(service: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings the service's process reads from its environment in its container."""
    for name in list(os.environ):
        if name.startswith("CARTSIM_"):
            monkeypatch.delenv(name)
    for name, value in compose()["services"][service].get("environment", {}).items():
        monkeypatch.setenv(name, str(value))
    return Settings()


def test_the_worker_announces_an_address_the_api_container_reaches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = compose()["services"]
    worker, api = settings_of("worker", monkeypatch), settings_of("api", monkeypatch)
    assert worker.worker_host == "0.0.0.0", "bound to loopback, no other container reaches it"
    url = urlsplit(worker.worker_url)
    assert url.hostname in services, f"{url.hostname} is no name on the compose network"
    assert services[url.hostname]["command"][1] == "worker"
    assert url.port == worker.worker_port
    assert api.data_dir == worker.data_dir, "the API reads the heartbeats where the worker writes"
