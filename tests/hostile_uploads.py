"""Hostile and odd uploads to POST /predict, each with the answer the service must give.

Raw request bodies and headers, so that the same corpus drives the tests (httpx) and the load
benchmark (wrk). A 4xx must carry a JSON error containing `says`; a 200 is an answer (a digit,
or no digit for a blank image).
"""

import gzip
import io
import os
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

BOUNDARY = "hostile-boundary-7c1f"


@dataclass(frozen=True)
class Upload:
    name: str
    body: bytes
    content_type: str | None  # the request's Content-Type header; None sends none
    status: int  # what the service must answer
    says: str = ""  # part of the error message of a 4xx
    image: bytes = b""  # for a 200: the image sent, to compare with the model's own answer

    @property
    def headers(self) -> dict[str, str]:
        return {"content-type": self.content_type} if self.content_type else {}


def multipart(*parts: tuple[str, bytes, bytes], boundary: str = BOUNDARY) -> bytes:
    """A multipart/form-data body of (field, filename as raw bytes, data) file parts."""
    body = b""
    for field, filename, data in parts:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '.encode()
            + b'filename="'
            + filename
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
            + data
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode()


FORM = f"multipart/form-data; boundary={BOUNDARY}"


def image_upload(
    name: str, data: bytes, status: int = 200, says: str = "", filename: bytes = b"upload.bin"
) -> Upload:
    return Upload(name, multipart(("image", filename, data)), FORM, status, says, data)


def digit(side: int = 200) -> Image.Image:
    """A dark '7' on light paper, as a user would photograph or draw it."""
    image = Image.new("L", (side, side), 235)
    draw = ImageDraw.Draw(image)
    width = max(2, side // 14)
    draw.line(
        [(side * 0.25, side * 0.2), (side * 0.75, side * 0.2), (side * 0.45, side * 0.8)],
        fill=20,
        width=width,
    )
    return image


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_bomb(side: int = 30_000) -> bytes:
    """A side x side greyscale PNG that compresses to a few hundred kilobytes."""
    raw = zlib.compress(b"\0" * (side + 1) * side, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def sixteen_bit() -> Image.Image:
    return Image.fromarray(np.asarray(digit(), dtype=np.uint16) * 257)  # full 16-bit range


def animated_gif() -> bytes:
    frames = [digit().convert("P"), Image.new("P", (200, 200), 0)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def float_tiff() -> bytes:
    return encode(Image.fromarray(np.asarray(digit(), np.float32) / 255.0), "TIFF")


def transparent_strokes() -> Image.Image:
    """A canvas export: strokes with alpha, everything else fully transparent."""
    alpha = Image.eval(digit(), lambda value: 255 - value)
    image = Image.new("LA", alpha.size, 0)
    image.putalpha(alpha)
    return image


def corrupt_png() -> bytes:
    data = bytearray(encode(digit(), "PNG"))
    data[60:80] = bytes(20)  # inside the image data: its CRC no longer matches
    return bytes(data)


def corrupt_jpeg() -> bytes:
    data = bytearray(encode(digit().convert("RGB"), "JPEG"))
    start = data.index(b"\xff\xc0")  # the frame header: claim zero columns
    data[start + 7 : start + 9] = b"\x00\x00"
    return bytes(data)


def uploads() -> list[Upload]:
    """The corpus: at least 30 requests, 4xx ones and odd but valid images."""
    png = encode(digit(), "PNG")
    jpeg = encode(digit().convert("RGB"), "JPEG", quality=90)
    refused = [
        image_upload("text as image", b"hello, I am text", 415, "not a supported image"),
        image_upload("empty file", b"", 400, "empty"),
        image_upload("truncated png", png[:100], 400, "corrupt or truncated"),
        image_upload("truncated jpeg", jpeg[: len(jpeg) // 3], 400, "corrupt or truncated"),
        image_upload("corrupt png", corrupt_png(), 400, "corrupt or truncated"),
        image_upload("corrupt jpeg", corrupt_jpeg(), 400, "corrupt"),
        image_upload("random bytes", np.random.default_rng(1).bytes(5000), 415, "not a supported"),
        image_upload("html", b"<!doctype html><html><body>7</body></html>", 415, "not a supported"),
        image_upload(
            "svg",
            b"<svg xmlns='http://www.w3.org/2000/svg'><text>7</text></svg>",
            415,
            "not a supported",
        ),
        image_upload(
            "pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF", 415, "not a supported"
        ),
        image_upload("gzip of a png", gzip.compress(png), 415, "not a supported"),
        image_upload("png decompression bomb", png_bomb(), 400, "too large"),
        image_upload(
            "over the pixel limit",
            encode(Image.new("L", (8000, 6000)), "PNG"),
            400,
            "over the limit",
        ),
        image_upload("over the upload limit", os.urandom(11 * 2**20), 413, "over the limit"),
        Upload("wrong field", multipart(("picture", b"a.png", png)), FORM, 400, "missing file"),
        Upload(
            "two images",
            multipart(("image", b"a.png", png), ("image", b"b.png", png)),
            FORM,
            400,
            "takes one file, got 2",
        ),
        Upload(
            "text field, no file",
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"\r\n\r\n'
            f"http://example.com/7.png\r\n--{BOUNDARY}--\r\n".encode(),
            FORM,
            400,
            "missing file",
        ),
        Upload("json body", b'{"image": "aGVsbG8="}', "application/json", 415, "multipart"),
        Upload("no body", b"", None, 415, "multipart"),
        Upload("no content type", multipart(("image", b"a.png", png)), None, 415, "multipart"),
        Upload(
            "wrong content type",
            multipart(("image", b"a.png", png)),
            "text/plain",
            415,
            "multipart",
        ),
        Upload(
            "multipart without boundary",
            multipart(("image", b"a.png", png)),
            "multipart/form-data",
            400,
            "malformed multipart",
        ),
        Upload(
            "multipart with another boundary",
            multipart(("image", b"a.png", png)),
            "multipart/form-data; boundary=other",
            400,
            "malformed multipart",
        ),
        Upload(
            "multipart cut off",
            multipart(("image", b"a.png", png))[:300],
            FORM,
            400,
            "missing file",
        ),
    ]
    answered = [
        image_upload("1x1 pixel", encode(Image.new("L", (1, 1), 128), "PNG")),
        image_upload("10000x10 strip", encode(Image.new("L", (10000, 10), 200), "PNG")),
        image_upload("16-bit png", encode(sixteen_bit(), "PNG")),
        image_upload("cmyk jpeg", encode(digit().convert("CMYK"), "JPEG")),
        image_upload("palette png", encode(digit().convert("P"), "PNG")),
        image_upload("grey + alpha png", encode(transparent_strokes(), "PNG")),
        image_upload("fully transparent png", encode(Image.new("RGBA", (64, 64)), "PNG")),
        image_upload("animated gif", animated_gif()),
        image_upload("ico", encode(digit(64).convert("RGBA"), "ICO")),
        image_upload("float tiff", float_tiff()),
        image_upload("webp", encode(digit().convert("RGB"), "WEBP")),
        image_upload("bmp", encode(digit(), "BMP")),
        image_upload("non-utf-8 filename", png, filename=b"\xff\xfe\xe9t\xe9.png"),
        image_upload("path in filename", png, filename=b"../../../etc/passwd"),
    ]
    return refused + answered
