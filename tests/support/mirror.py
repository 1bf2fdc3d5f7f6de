"""A loopback HTTP server standing in for MNIST download mirrors, good and bad."""

import http.server
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

# A route answers a GET for one file name: (status, body) or None to drop the connection.
Route = Callable[[str], tuple[int, bytes] | None]


class MirrorServer:
    """A loopback HTTP server whose first path segment picks a mirror's behaviour (a route of
    `routes`); it records every path asked for. It serves inside a `with` block."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        routes, requests = self.routes, self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                mirror, _, name = self.path.strip("/").partition("/")
                answer = routes[mirror](name) if mirror in routes else (404, b"no such mirror")
                if answer is None:  # promise a full file, send half of it, hang up
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"x" * 500)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                status, body = answer
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, mirror: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/{mirror}/"

    def __enter__(self) -> "MirrorServer":
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_directory(directory: Path) -> Route:
    """A route serving the files of a directory, 404 for others."""

    def route(name: str) -> tuple[int, bytes]:
        path = directory / name
        return (200, path.read_bytes()) if name and path.is_file() else (404, b"not found")

    return route
