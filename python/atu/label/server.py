"""The HTTP side of `atu label`, on the standard library's http.server: a few routes need no framework.

  GET  /               the page (page.html)
  GET  /api/state      {"n", "undesired", "page_size", "resolution", "unsaved", ...}
  GET  /img/<id>.png   sample <id> of the bank; <id> is a plain decimal index, nothing else
  POST /api/marks      {"undesired": [ids]} replaces the marks (kept in memory until saved)
  POST /api/save       writes the feedback bundle; an optional {"undesired": [ids]} sets the marks
                       first, in the same request, so a Save always writes what the page shows

A refused request answers 4xx with JSON {"error": "..."} and changes nothing. Routes are matched on
the raw path, before percent-decoding, and only exactly: no file system stands behind the server,
so /img/../x or /img/%2e%2e/x has nothing to reach and is a 404.

Why POSTs must say Content-Type: application/json: a page on another site can send a "simple"
cross-origin POST (text/plain, a form) to localhost without asking; with JSON the browser has to
ask first (a CORS preflight), which this server never grants. The Host check stops the other way
in, DNS rebinding (an attacker's name resolving to 127.0.0.1), when bound to the loopback address.
"""

from __future__ import annotations

import json
import re
import socket
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from ..feedback import MarksError
from .session import MarkingSession

IMAGE_ROUTE = re.compile(r"/img/(0|[1-9][0-9]{0,9})\.png")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
# The page keeps every request to the machine it came from; inline script and style are its own.
PAGE_POLICY = (
    "default-src 'none'; img-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
JSON_TYPE = "application/json"


class RequestError(Exception):
    """A request the server refuses: its status and a message for the person (or test) who sent it."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class LabelServer(ThreadingHTTPServer):
    """Serves one MarkingSession. Binding happens in the constructor, so a port in use fails here
    (OSError), before the caller has drawn or written anything."""

    daemon_threads = True  # an open browser connection must not keep Ctrl-C from ending the server
    request_queue_size = 64  # a page of images arrives as a burst of connections; socketserver's 5 is small

    def __init__(self, session: MarkingSession | None, host: str = "127.0.0.1", port: int = 0):
        self.address_family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        self.session = session
        self.page = resources.files(__package__).joinpath("page.html").read_bytes()
        super().__init__((host, port), LabelRequestHandler)
        self.port = self.server_address[1]
        self.allowed_hosts = None
        if host in LOOPBACK_NAMES:
            self.allowed_hosts = {f"{name}:{self.port}" for name in ("127.0.0.1", "localhost", "[::1]")}

    @property
    def url(self) -> str:
        host = self.server_address[0]
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}/"


def make_server(session: MarkingSession | None, host: str = "127.0.0.1", port: int = 0) -> LabelServer:
    """A bound server (port 0: any free port, see `.port`); `serve_forever()` starts answering.
    The session may be attached later (`server.session = ...`), once the bank is ready."""
    return LabelServer(session, host, port)


class LabelRequestHandler(BaseHTTPRequestHandler):
    server: LabelServer
    server_version = "atu-label"
    # Seconds a connection may sit idle mid-request (a body shorter than its Content-Length):
    # without it one such client holds a thread forever, and thirty hold thirty.
    timeout = 10

    def do_GET(self):
        self._answer(self._get)

    def do_POST(self):
        self._answer(self._post, check_origin=True)

    # ---- routes ----------------------------------------------------------------------------------

    def _get(self, path: str) -> tuple[HTTPStatus, str, bytes]:
        session = self.server.session
        if path == "/":
            return HTTPStatus.OK, "text/html; charset=utf-8", self.server.page
        if path == "/favicon.ico":  # browsers ask for one; answering "none" keeps their logs clean
            return HTTPStatus.NO_CONTENT, "image/x-icon", b""
        if path == "/api/state":
            return HTTPStatus.OK, JSON_TYPE, _json(session.state())
        image = IMAGE_ROUTE.fullmatch(path)
        if image:
            index = int(image.group(1))
            if index >= session.n:
                raise RequestError(HTTPStatus.NOT_FOUND, f"no sample {index}: the bank holds 0..{session.n - 1}")
            return HTTPStatus.OK, "image/png", session.png(index)
        if path in ("/api/marks", "/api/save"):
            raise RequestError(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes POST")
        raise RequestError(HTTPStatus.NOT_FOUND, f"nothing at {path}")

    def _post(self, path: str) -> tuple[HTTPStatus, str, bytes]:
        session = self.server.session
        if path not in ("/api/marks", "/api/save"):
            raise RequestError(
                HTTPStatus.METHOD_NOT_ALLOWED
                if path == "/" or path.startswith(("/api/", "/img/"))
                else HTTPStatus.NOT_FOUND,
                f"no POST at {path}",
            )
        body = self._json_body(required=path == "/api/marks")
        try:
            if path == "/api/marks":
                session.set_marks(body["undesired"])
                return HTTPStatus.OK, JSON_TYPE, _json(session.state())
            return HTTPStatus.OK, JSON_TYPE, _json(session.save(body.get("undesired")))
        except MarksError as err:
            raise RequestError(HTTPStatus.BAD_REQUEST, str(err)) from err
        except OSError as err:
            raise RequestError(
                HTTPStatus.INTERNAL_SERVER_ERROR, f"could not write {session.feedback_file}: {err}"
            ) from err

    # ---- checks ----------------------------------------------------------------------------------

    def _json_body(self, required: bool) -> dict[str, Any]:
        """The request's JSON object, whose only key may be "undesired"; empty if there is no body
        and none is required."""
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != JSON_TYPE:
            raise RequestError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"send JSON with Content-Type: {JSON_TYPE} (got {content_type or 'none'})",
            )
        length = self.headers.get("Content-Length")
        # ASCII digits only: str.isdigit() also accepts '²' or '٣', which int() then refuses
        if length is None or not (length.isascii() and length.isdigit()):
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length (bytes of JSON) is required")
        # Every index written out, with separators: ample for any real list of marks.
        limit = 1024 + 12 * self.server.session.n
        if int(length) > limit:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length} bytes; at most {limit} expected")
        try:
            raw = self.rfile.read(int(length))
        except TimeoutError:
            self.close_connection = True
            raise RequestError(
                HTTPStatus.REQUEST_TIMEOUT, f"the body stopped before its Content-Length ({length} bytes)"
            ) from None
        if len(raw) < int(length):
            self.close_connection = True
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the body has {len(raw)} of its {length} bytes")
        if not raw.strip():
            if required:
                raise RequestError(HTTPStatus.BAD_REQUEST, 'send {"undesired": [sample indices]}')
            return {}
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except UnicodeDecodeError as err:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the body is not UTF-8 text ({err.reason})") from err
        except json.JSONDecodeError as err:
            raise RequestError(
                HTTPStatus.BAD_REQUEST, f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
            ) from err
        except ValueError as err:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"not valid JSON: {err}") from err
        if not isinstance(body, dict):
            raise RequestError(
                HTTPStatus.BAD_REQUEST, f'send a JSON object {{"undesired": [...]}}, not a {type(body).__name__}'
            )
        unknown = sorted(set(body) - {"undesired"})
        if unknown:
            raise RequestError(HTTPStatus.BAD_REQUEST, f'unknown key(s) {unknown}; the only key is "undesired"')
        if required and "undesired" not in body:
            raise RequestError(HTTPStatus.BAD_REQUEST, 'the key "undesired" (a list of sample indices) is missing')
        return body

    def _check_host(self) -> None:
        """Host must be named (HTTP/1.1 requires it; without it the DNS-rebinding check has nothing to
        check) and, on the loopback address, be one of the loopback names with this port."""
        host = self.headers.get("Host")
        if host is None:
            raise RequestError(HTTPStatus.BAD_REQUEST, "a Host header is required")
        allowed = self.server.allowed_hosts
        if allowed is not None and host.lower() not in allowed:
            raise RequestError(
                HTTPStatus.FORBIDDEN, f"this server answers to {sorted(allowed)}, not Host {host[:80]!r}"
            )

    def _check_origin(self) -> None:
        """A POST that says where it comes from must come from this server's own page: a browser
        names the page's origin, and a page of another site must not change the marks."""
        origin = self.headers.get("Origin")
        if origin is None:  # not from a browser page (curl, scripts): the Host check stands
            return
        if urlsplit(origin).netloc.lower() != self.headers.get("Host", "").lower():
            raise RequestError(HTTPStatus.FORBIDDEN, f"POST from another origin ({origin[:80]}) is refused")

    # ---- answering -------------------------------------------------------------------------------

    def _answer(self, route, check_origin: bool = False) -> None:
        try:
            self._check_host()
            if check_origin:
                self._check_origin()
            if self.server.session is None:
                raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, "the bank is not ready yet")
            status, content_type, body = route(urlsplit(self.path).path)
        except RequestError as err:
            status, content_type, body = err.status, JSON_TYPE, _json({"error": err.message})
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        # Images too: another DIR served later on the same port has other samples under the same URLs.
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy", PAGE_POLICY)
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code="-", size="-") -> None:
        # Every image of every page would scroll past; only refusals are worth a line.
        if isinstance(code, int) and code >= 400:
            super().log_request(code, size)

    def log_message(self, format: str, *args) -> None:
        sys.stderr.write(f"atu label: {self.address_string()} {format % args}\n")


def _json(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")
