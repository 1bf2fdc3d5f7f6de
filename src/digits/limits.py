"""Upload limits for every route of the service, as ASGI middleware (no model, no BentoML).

BentoML's typed endpoints parse multipart bodies themselves, with no size or time limit, and
answer some malformed bodies with a 500 (a text field where a file belongs makes it try to
download a URL). This guard reads the body first: over the size limit is a 413 (by the
declared length, or as it streams in), a body that does not arrive in time a 408; for the
upload routes, a body that is not multipart is a 415 and a malformed one, a missing or
non-file field, or too many files a 400. A body that passes is handed on whole from memory.
Every refusal is JSON `{"error": "..."}`.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse


@dataclass(frozen=True)
class FileField:
    """The multipart file field an upload route reads, and how many files it takes."""

    name: str
    max_files: int = 1


class Refused(Exception):
    """A request refused before it reaches a route: HTTP status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class UploadGuard:
    def __init__(
        self, app: Any, max_bytes: int, seconds: float, upload_routes: dict[str, FileField]
    ) -> None:
        self.app, self.max_bytes, self.seconds = app, max_bytes, seconds
        self.upload_routes = upload_routes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        field = self.upload_routes.get(scope["path"])
        try:
            self.check_declared_length(scope)
            if field:
                self.check_content_type(scope)
            async with asyncio.timeout(self.seconds):
                body = await self.read_body(scope, receive)
            if body is not None and field:
                await self.check_form(scope, body, field)
        except TimeoutError:
            message = f"the upload did not arrive within {self.seconds:g} s"
            return await refusal(408, message)(scope, receive, send)
        except Refused as failure:
            return await refusal(failure.status, failure.message)(scope, receive, send)
        if body is None:  # the client went away: nobody to answer
            return None
        return await self.app(scope, replay(body, receive), send)

    @staticmethod
    def check_content_type(scope: dict) -> None:
        content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
        if not content_type.lower().startswith("multipart/form-data"):
            raise Refused(415, "send multipart/form-data with the image in a file field")

    def check_declared_length(self, scope: dict) -> None:
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self.too_big()

    def too_big(self) -> Refused:
        return Refused(413, f"the upload is over the limit of {self.max_bytes} bytes")

    async def read_body(self, scope: dict, receive: Any) -> bytes | None:
        """The whole body, or None if the client went away; 413 once it streams over."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                raise self.too_big()
            if not message.get("more_body"):
                return bytes(body)

    @staticmethod
    async def check_form(scope: dict, body: bytes, field: FileField) -> None:
        """Parse the multipart body once here (BentoML parses it again) to refuse what its
        parser would turn into a 500."""
        request = Request(scope, replay(body, None))
        try:
            form = await request.form(max_files=field.max_files + 1, max_fields=8)
        except (MultiPartException, HTTPException) as failure:
            detail = getattr(failure, "detail", None) or str(failure)
            raise Refused(400, f"malformed multipart body: {detail}") from failure
        try:
            values = form.getlist(field.name)
            if not values or not all(isinstance(value, UploadFile) for value in values):
                raise Refused(400, f"missing file field '{field.name}' (send the image as a file)")
            if len(values) > field.max_files:
                what = "one file" if field.max_files == 1 else f"at most {field.max_files} files"
                raise Refused(400, f"field '{field.name}' takes {what}, got {len(values)}")
        finally:
            await form.close()


def refusal(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def replay(body: bytes, receive: Any) -> Any:
    """A `receive` that gives the whole body once, then waits on the client (for a disconnect)."""
    sent = False

    async def receive_body() -> dict:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_body
