"""The upload guard and the settings, without a model or a server: the guard in front of a
route that only records what reached it."""

import asyncio

import httpx
import pytest
from hostile_uploads import FORM, multipart

from digits.errors import ParamsError
from digits.limits import FileField, UploadGuard
from digits.settings import Settings

ROUTES = {"/predict": FileField("image"), "/predict_batch": FileField("images", 3)}


def guarded(max_bytes: int = 1000, seconds: float = 5) -> tuple[UploadGuard, list[bytes]]:
    reached: list[bytes] = []

    async def route(scope: dict, receive, send) -> None:
        reached.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return UploadGuard(route, max_bytes, seconds, ROUTES), reached


def post(app: UploadGuard, path: str, body: bytes, content_type: str | None) -> httpx.Response:
    async def send() -> httpx.Response:
        headers = {"content-type": content_type} if content_type else {}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(path, content=body, headers=headers)

    return asyncio.run(send())


PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 20


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "says"),
    [
        ("/predict", multipart(("image", b"a.png", PNG)), FORM, 200, ""),
        ("/predict", b'{"image": 1}', "application/json", 415, "multipart/form-data"),
        ("/predict", multipart(("image", b"a.png", PNG)), None, 415, "multipart/form-data"),
        ("/predict", multipart(("image", b"a.png", PNG)), "multipart/form-data", 400, "malformed"),
        ("/predict", multipart(("picture", b"a.png", PNG)), FORM, 400, "missing file field"),
        ("/predict", multipart(("image", b"a", PNG), ("image", b"b", PNG)), FORM, 400, "one file"),
        ("/predict", b"x" * 1001, FORM, 413, "over the limit of 1000 bytes"),
        ("/predict_batch", multipart(*[("images", b"a", PNG)] * 3), FORM, 200, ""),
        ("/predict_batch", multipart(*[("images", b"a", PNG)] * 4), FORM, 400, "at most 3"),
        ("/feedback", b'{"id": "x"}', "application/json", 200, ""),  # not an upload route
        ("/feedback", b"x" * 1001, "application/json", 413, "over the limit"),
    ],
)
def test_the_guard_refuses_bad_uploads_before_the_route(
    path: str, body: bytes, content_type: str | None, status: int, says: str
) -> None:
    app, reached = guarded()
    response = post(app, path, body, content_type)
    assert response.status_code == status, response.text
    if status == 200:
        assert reached == [body]  # handed on whole
    else:
        assert says in response.json()["error"] and not reached


def test_a_text_field_where_a_file_belongs_is_refused() -> None:
    """BentoML would take the text for a URL to download."""
    text = b'--hostile-boundary-7c1f\r\nContent-Disposition: form-data; name="image"\r\n\r\n'
    body = text + b"http://127.0.0.1/7.png\r\n--hostile-boundary-7c1f--\r\n"
    app, reached = guarded()
    response = post(app, "/predict", body, FORM)
    assert response.status_code == 400 and "missing file field 'image'" in response.json()["error"]
    assert not reached


def test_a_stalled_upload_gets_a_408_without_reaching_the_route() -> None:
    app, reached = guarded(seconds=0.2)
    sent = []

    async def stalled() -> dict:
        await asyncio.sleep(30)  # a client that opened a request and sends nothing
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [
        (b"content-type", FORM.encode())]}  # fmt: skip
    asyncio.run(app(scope, stalled, send))
    assert sent[0]["status"] == 408 and b"did not arrive within 0.2 s" in sent[1]["body"]
    assert not reached


def test_settings_come_from_the_environment_with_clear_errors() -> None:
    assert Settings.from_environment({}) == Settings()
    settings = Settings.from_environment({"DIGITS_WORKERS": "4", "DIGITS_ACCESS_LOG": "1"})
    assert settings.workers == 4 and settings.access_log is True
    with pytest.raises(ParamsError, match="DIGITS_WORKERS='two' is not a valid int"):
        Settings.from_environment({"DIGITS_WORKERS": "two"})
    with pytest.raises(ParamsError, match="must be positive"):
        Settings.from_environment({"DIGITS_TIMEOUT_SECONDS": "0"})
