"""Router matching, and the real HTTP server end to end on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from app.http import Request, Response, Router
from app.server import build_router, make_server


def test_router_matches_integer_parameters_only() -> None:
    router = Router()
    router.add("GET", "/items/{item_id}", lambda request: Response(200, request.params))

    assert router.dispatch(Request("GET", "/items/12")).body == {"item_id": 12}
    assert router.dispatch(Request("GET", "/items/abc")).status == 404
    assert router.dispatch(Request("DELETE", "/items/12")).status == 405


@pytest.fixture
def base_url() -> Iterator[str]:
    server = make_server(build_router(), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def call(method: str, url: str, body: object = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_server_speaks_json_over_http(base_url: str) -> None:
    created = call("POST", f"{base_url}/users", {"name": "Ada", "email": "ada@x.org"})
    listed = call("GET", f"{base_url}/users")
    missing = call("GET", f"{base_url}/nowhere")

    assert created == (201, {"id": 1, "name": "Ada", "email": "ada@x.org", "active": True})
    assert listed == (200, [created[1]])
    assert missing[0] == 404


def test_server_rejects_a_body_that_is_not_json(base_url: str) -> None:
    request = urllib.request.Request(f"{base_url}/users", data=b"{not json", method="POST")

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)

    with caught.value as error:
        assert error.code == 400
        assert json.loads(error.read()) == {"error": "the body is not valid JSON"}
