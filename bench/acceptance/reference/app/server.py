"""Wire every resource into one Router and serve it with ``http.server``.

Run it with ``python -m app.server [PORT]`` (default 8000, on 127.0.0.1).
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit

from app.http import Request, Response, Router
from app.routes.projects import ProjectRoutes
from app.routes.users import UserRoutes
from app.services.project_service import ProjectService
from app.services.user_service import UserService


def build_router() -> Router:
    """One Router with the routes of every resource, each over a fresh service."""
    router = Router()
    UserRoutes(UserService()).register(router)
    ProjectRoutes(ProjectService()).register(router)
    return router


def make_server(router: Router, host: str = "127.0.0.1", port: int = 8000) -> HTTPServer:
    """An HTTP server answering with ``router``; port 0 picks a free port."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except (json.JSONDecodeError, UnicodeDecodeError):
                response = Response(400, {"error": "the body is not valid JSON"})
            else:
                path = urlsplit(self.path).path
                response = router.dispatch(Request(self.command, path, body))
            self.send_json(response)

        def send_json(self, response: Response) -> None:
            payload = b"" if response.body is None else json.dumps(response.body).encode()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = answer

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: no access log on stderr."""

    return HTTPServer((host, port), Handler)


def main(arguments: list[str]) -> None:
    port = int(arguments[0]) if arguments else 8000
    server = make_server(build_router(), port=port)
    print(f"projects-api on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
