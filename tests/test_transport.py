"""httpx's transport errors become route's in one place (``route.backends.transport``)."""

from __future__ import annotations

import httpx
import pytest

from route.backends.ollama_admin import list_installed
from route.backends.transport import translated_transport_errors
from route.errors import (
    BackendError,
    BackendResponseError,
    BackendTimeout,
    BackendUnreachable,
)
from tests.servers import free_port

REQUEST = httpx.Request("GET", "http://127.0.0.1:1/")


def errors() -> dict[str, BackendError]:
    return {
        "unreachable": BackendUnreachable("down"),
        "timeout": BackendTimeout("slow"),
        "cut": BackendResponseError("cut"),
    }


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpx.ConnectError("refused", request=REQUEST), "unreachable"),
        (httpx.ConnectTimeout("connect", request=REQUEST), "unreachable"),
        (httpx.ReadTimeout("read", request=REQUEST), "timeout"),
        (httpx.WriteTimeout("write", request=REQUEST), "timeout"),
        (httpx.PoolTimeout("pool", request=REQUEST), "timeout"),
        (httpx.RemoteProtocolError("cut", request=REQUEST), "cut"),
        (httpx.ReadError("reset", request=REQUEST), "cut"),
    ],
)
def test_each_transport_error_has_one_translation(
    raised: httpx.TransportError, expected: str
) -> None:
    made = errors()
    with (
        pytest.raises(BackendError) as caught,
        translated_transport_errors(
            unreachable=lambda: made["unreachable"],
            timeout=lambda: made["timeout"],
            cut=lambda: made["cut"],
        ),
    ):
        raise raised
    assert caught.value is made[expected]
    assert caught.value.__cause__ is raised


def test_without_a_cut_error_a_cut_connection_is_unreachable() -> None:
    made = errors()
    with (
        pytest.raises(BackendUnreachable),
        translated_transport_errors(
            unreachable=lambda: made["unreachable"], timeout=lambda: made["timeout"]
        ),
    ):
        raise httpx.ReadError("reset", request=REQUEST)


def test_other_errors_pass_through() -> None:
    with (
        pytest.raises(ValueError, match="not httpx"),
        translated_transport_errors(
            unreachable=lambda: BackendUnreachable("x"), timeout=lambda: BackendTimeout("y")
        ),
    ):
        raise ValueError("not httpx")


def test_the_admin_calls_translate_a_refused_connection_on_a_real_socket() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with httpx.Client() as client, pytest.raises(BackendUnreachable, match="ollama serve"):
        list_installed(client, url)
