"""httpx's transport errors translated into route's error tree, in one place.

Like httpx's own ``map_httpcore_exceptions``, one context manager wraps every request route
makes to a model server (the backends, Ollama's admin calls, ``route init``'s checks):

    ReadTimeout, WriteTimeout, PoolTimeout   -> timeout()      (BackendTimeout)
    RemoteProtocolError, ReadError           -> cut()          a stream cut mid-answer
                                                               (unreachable() when no cut)
    any other TransportError (refused, DNS,  -> unreachable()  (BackendUnreachable)
    connect timeout, ...)

Each caller supplies the errors, so every message names its own server and what to do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from route.errors import BackendError

ErrorFactory = Callable[[], BackendError]


@contextlib.contextmanager
def translated_transport_errors(
    *, unreachable: ErrorFactory, timeout: ErrorFactory, cut: ErrorFactory | None = None
) -> Iterator[None]:
    """Raise route's error for an httpx transport error raised inside (``raise ... from``)."""
    import httpx

    try:
        yield
    except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout) as exc:
        raise timeout() from exc
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        raise (cut or unreachable)() from exc
    except httpx.TransportError as exc:
        raise unreachable() from exc
