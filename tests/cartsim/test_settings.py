from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from cartsim.settings import Settings


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("127.0.0.1", 6066, "http://127.0.0.1:6066"),
        ("worker-3.internal", 7000, "http://worker-3.internal:7000"),
        ("::1", 6066, "http://[::1]:6066"),
        ("0.0.0.0", 6066, f"http://{socket.gethostname()}:6066"),
        ("::", 6067, f"http://{socket.gethostname()}:6067"),
    ],
)
def test_the_worker_announces_its_bind_address_unless_it_names_no_host(
    host: str, port: int, url: str
) -> None:
    assert Settings(worker_host=host, worker_port=port).worker_url == url


def test_an_advertised_url_is_announced_whatever_the_bind_address() -> None:
    settings = Settings(worker_host="0.0.0.0", worker_advertised_url="http://worker:6066")
    assert settings.worker_url == "http://worker:6066"


@pytest.mark.parametrize("url", ["worker:6066", "http://worker:6066/", "http://worker/x", ""])
def test_an_advertised_url_is_a_scheme_and_an_address_only(url: str) -> None:
    with pytest.raises(ValidationError, match="worker_advertised_url"):
        Settings(worker_advertised_url=url)
