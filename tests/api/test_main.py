"""The application's own answers, before any route runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cartsim.api.main import create_app
from tests.api.conftest import api_settings


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/cart/generate/status", "DELETE, GET"),
        ("PUT", "/cart/generate/events", "GET, POST"),
        ("DELETE", "/cart/events/customer/C1", "GET"),
    ],
)
def test_an_undeclared_method_is_a_405_allowing_every_method_of_the_path(
    tmp_path: Path, method: str, path: str, allowed: str
) -> None:
    response = TestClient(create_app(api_settings(tmp_path))).request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json() == {"detail": "Method Not Allowed"}
