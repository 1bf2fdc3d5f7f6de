"""Fetching the MNIST IDX files from mirrors, verified by sha256 and written atomically."""

import hashlib
import http.client
import itertools
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from digits.errors import DigitsError
from digits.files import atomic_path

MANIFEST_NAME = "SHA256SUMS"
CHUNK_BYTES = 1 << 16
UPSTREAM = "upstream"
MIRROR_MANIFEST = "mirror manifest"


class DownloadError(DigitsError):
    """A file could not be obtained from a mirror, or from any mirror."""


class TransientError(DownloadError):
    """A failure worth retrying: server error, dropped connection, timeout, short read."""


class ChecksumError(DownloadError):
    """The bytes arrived but are not the expected data."""


@dataclass(frozen=True)
class FetchedFile:
    name: str
    sha256: str
    mirror: str
    verified_against: str  # UPSTREAM or MIRROR_MANIFEST


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    timeout_seconds: float = 30.0
    backoff_seconds: float = 1.0


def mirrors_to_try(configured: Sequence[str]) -> list[str]:
    """The mirror list: MNIST_MIRROR (a directory or URL) replaces the configured one."""
    override = os.environ.get("MNIST_MIRROR", "").strip()
    return [override] if override else list(configured)


def trust_mirror_manifest() -> bool:
    """Whether MNIST_TRUST_MIRROR_MANIFEST allows data that differs from upstream."""
    return os.environ.get("MNIST_TRUST_MIRROR_MANIFEST", "").strip().lower() in {"1", "true", "yes"}


def _is_url(mirror: str) -> bool:
    return mirror.startswith(("http://", "https://", "file://"))


def _join(mirror: str, name: str) -> str:
    return mirror.rstrip("/") + "/" + name


def _open(mirror: str, name: str, timeout: float) -> tuple[BinaryIO, int | None]:
    """Open one file of a mirror for reading; return the stream and its size if known."""
    if not _is_url(mirror):
        path = Path(mirror).expanduser() / name
        if not path.is_file():
            raise DownloadError(f"no file {path}")
        return path.open("rb"), path.stat().st_size
    request = urllib.request.Request(_join(mirror, name), headers={"User-Agent": "digits/0.1"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        message = f"HTTP {error.code} {error.reason}"
        if error.code >= 500 or error.code == 429:
            raise TransientError(message) from error
        raise DownloadError(message) from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, socket.gaierror):  # unknown host: retrying will not help
            raise DownloadError(f"cannot resolve host ({error.reason})") from error
        raise TransientError(f"connection failed ({error.reason})") from error
    except (TimeoutError, ConnectionError) as error:
        raise TransientError(f"connection failed ({error})") from error
    length = response.headers.get("Content-Length")
    return response, int(length) if length and length.isdigit() else None


class _Progress:
    """Prints how far a file has come, every 10%, on stderr (stdout stays for results)."""

    def __init__(self, name: str, total: int | None) -> None:
        self.name, self.total, self.done, self.next_report = name, total, 0, 0.1

    def advance(self, count: int) -> None:
        self.done += count
        if self.total and self.done / self.total >= self.next_report:
            percent = min(100, int(100 * self.done / self.total))
            print(f"  {self.name}: {percent:3d}% of {self.total / 1e6:.1f} MB", file=sys.stderr)
            self.next_report = (percent // 10 + 1) / 10


def _copy_hashing(mirror: str, name: str, target: Path, timeout: float) -> str:
    """Copy one file of a mirror to `target`; return its sha256. Short reads are transient."""
    digest = hashlib.sha256()
    stream, total = _open(mirror, name, timeout)
    progress = _Progress(name, total)
    try:
        with stream, target.open("wb") as out:
            while chunk := stream.read(CHUNK_BYTES):
                digest.update(chunk)
                out.write(chunk)
                progress.advance(len(chunk))
    except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as error:
        raise TransientError(
            f"transfer interrupted after {progress.done} bytes ({error})"
        ) from error
    if total is not None and progress.done != total:
        raise TransientError(f"transfer ended after {progress.done} of {total} bytes")
    return digest.hexdigest()


def read_manifest(mirror: str, timeout: float) -> dict[str, str]:
    """The mirror's SHA256SUMS as {file name: sha256}; empty when it publishes none."""
    try:
        stream, _ = _open(mirror, MANIFEST_NAME, timeout)
        with stream:
            text = stream.read(1 << 20).decode("utf-8", errors="replace")
    except DownloadError:
        return {}
    manifest = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and len(fields[0]) == 64:
            manifest[fields[1].lstrip("*")] = fields[0].lower()
    return manifest


def check_digest(
    name: str, actual: str, expected: str, manifest: Mapping[str, str], trust_manifest: bool
) -> str:
    """Decide whether bytes with sha256 `actual` are acceptable; return what vouched for them."""
    if actual == expected:
        return UPSTREAM
    listed = manifest.get(name)
    if listed != actual:
        also = f", nor the mirror's SHA256SUMS entry {listed}" if listed else ""
        raise ChecksumError(
            f"checksum mismatch for {name}: sha256 {actual} is not the upstream {expected}{also}"
            " (corrupt or tampered file)"
        )
    if not trust_manifest:
        raise ChecksumError(
            f"{name} differs from upstream MNIST (sha256 {actual}, upstream {expected}); the"
            f" mirror's {MANIFEST_NAME} vouches for it. Set MNIST_TRUST_MIRROR_MANIFEST=1 to accept"
            " it; its digest is then recorded with the run"
        )
    return MIRROR_MANIFEST


def _fetch_from_mirror(
    mirror: str,
    name: str,
    expected: str,
    target: Path,
    policy: RetryPolicy,
    manifest_of: Callable[[str], Mapping[str, str]],
) -> FetchedFile:
    """Fetch one file from one mirror with retries; it appears at `target` only once verified."""
    for attempt in itertools.count(1):
        try:
            with atomic_path(target) as part:
                actual = _copy_hashing(mirror, name, part, policy.timeout_seconds)
                manifest = {} if actual == expected else manifest_of(mirror)
                verified_against = check_digest(
                    name, actual, expected, manifest, trust_mirror_manifest()
                )
            return FetchedFile(name, actual, mirror, verified_against)
        except TransientError as error:
            if attempt >= policy.attempts:
                raise TransientError(f"{error}; gave up after {attempt} attempts") from error
            wait = policy.backoff_seconds * 2 ** (attempt - 1)
            print(f"  {name}: {error}; retrying in {wait:g} s", file=sys.stderr)
            time.sleep(wait)


def fetch_file(
    name: str,
    expected: str,
    mirrors: Sequence[str],
    out_dir: Path,
    policy: RetryPolicy = RetryPolicy(),
    manifest_of: Callable[[str], Mapping[str, str]] | None = None,
) -> FetchedFile:
    """Fetch `name` from the first mirror that delivers verified bytes."""
    if manifest_of is None:
        manifest_of = _manifest_cache(policy.timeout_seconds)
    failures = []
    for mirror in mirrors:
        print(f"{name}: trying {mirror}", file=sys.stderr)
        try:
            return _fetch_from_mirror(mirror, name, expected, out_dir / name, policy, manifest_of)
        except DownloadError as error:
            print(f"  {name}: failed: {error}", file=sys.stderr)
            failures.append(f"{mirror}: {error}")
    raise DownloadError(
        f"could not download {name} from any mirror:\n  - "
        + "\n  - ".join(failures)
        + "\nSet MNIST_MIRROR to a directory or URL that holds the MNIST files to use another."
    )


def _manifest_cache(timeout: float) -> Callable[[str], Mapping[str, str]]:
    """Read each mirror's manifest at most once, and only when a file needs it."""
    cache: dict[str, Mapping[str, str]] = {}

    def manifest_of(mirror: str) -> Mapping[str, str]:
        if mirror not in cache:
            cache[mirror] = read_manifest(mirror, timeout)
        return cache[mirror]

    return manifest_of


def fetch_all(
    files: Mapping[str, str], mirrors: Sequence[str], out_dir: Path, policy: RetryPolicy
) -> list[FetchedFile]:
    """Fetch every file of `files` ({name: upstream sha256}) into `out_dir`."""
    if not mirrors:
        raise DownloadError("no mirrors configured: set download.mirrors or MNIST_MIRROR")
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_of = _manifest_cache(policy.timeout_seconds)
    return [
        fetch_file(name, sha, mirrors, out_dir, policy, manifest_of) for name, sha in files.items()
    ]


def data_digest(fetched: Sequence[FetchedFile]) -> str:
    """One sha256 naming the exact data set: over the sorted (name, sha256) pairs."""
    lines = "".join(f"{f.sha256}  {f.name}\n" for f in sorted(fetched, key=lambda f: f.name))
    return hashlib.sha256(lines.encode()).hexdigest()


def provenance(fetched: Sequence[FetchedFile]) -> dict:
    """What was downloaded and what vouched for it, for the run's records."""
    return {
        "digest": data_digest(fetched),
        "matches_upstream": all(f.verified_against == UPSTREAM for f in fetched),
        "files": {
            f.name: {"sha256": f.sha256, "verified_against": f.verified_against} for f in fetched
        },
    }
