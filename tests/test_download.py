from pathlib import Path

import pytest
from support.data import FILE_NAMES
from support.mirror import MirrorServer, serve_directory

from digits.download import (
    MIRROR_MANIFEST,
    UPSTREAM,
    ChecksumError,
    DownloadError,
    RetryPolicy,
    check_digest,
    fetch_all,
    fetch_file,
    mirrors_to_try,
    provenance,
    read_manifest,
)

FAST = RetryPolicy(attempts=2, timeout_seconds=5, backoff_seconds=0.01)
NAME = FILE_NAMES["train_labels"]
GOOD, OTHER = "a" * 64, "b" * 64


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


# --- checksum rules ---------------------------------------------------------------------------


def test_upstream_digest_is_accepted() -> None:
    assert check_digest(NAME, GOOD, GOOD, {}, trust_manifest=False) == UPSTREAM


def test_unknown_digest_is_a_mismatch_even_when_trusting_the_manifest() -> None:
    with pytest.raises(ChecksumError, match=f"checksum mismatch.*{OTHER}.*{GOOD}"):
        check_digest(NAME, OTHER, GOOD, {}, trust_manifest=True)


def test_manifest_listed_variant_needs_explicit_trust() -> None:
    manifest = {NAME: OTHER}
    with pytest.raises(ChecksumError, match="MNIST_TRUST_MIRROR_MANIFEST=1"):
        check_digest(NAME, OTHER, GOOD, manifest, trust_manifest=False)
    assert check_digest(NAME, OTHER, GOOD, manifest, trust_manifest=True) == MIRROR_MANIFEST


def test_bytes_matching_neither_upstream_nor_manifest_are_refused() -> None:
    with pytest.raises(ChecksumError, match="nor the mirror's SHA256SUMS entry"):
        check_digest(NAME, "c" * 64, GOOD, {NAME: OTHER}, trust_manifest=True)


def test_manifest_parsing(tmp_path: Path) -> None:
    (tmp_path / "SHA256SUMS").write_text(f"{GOOD}  {NAME}\n{OTHER} *other.gz\nnot a line\n")
    assert read_manifest(str(tmp_path), timeout=1) == {NAME: GOOD, "other.gz": OTHER}
    assert read_manifest(str(tmp_path / "missing"), timeout=1) == {}


def test_mnist_mirror_variable_replaces_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MNIST_MIRROR", raising=False)
    assert mirrors_to_try(["a", "b"]) == ["a", "b"]
    monkeypatch.setenv("MNIST_MIRROR", "/some/dir")
    assert mirrors_to_try(["a", "b"]) == ["/some/dir"]


# --- fetching from mirrors ----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MNIST_MIRROR", raising=False)
    monkeypatch.delenv("MNIST_TRUST_MIRROR_MANIFEST", raising=False)


def test_falls_back_past_a_failing_and_a_corrupt_mirror(
    mnist_dir: tuple[Path, dict], mirror_server: MirrorServer, tmp_path: Path
) -> None:
    source, hashes = mnist_dir
    mirror_server.routes["error"] = lambda name: (500, b"server error")
    mirror_server.routes["corrupt"] = lambda name: (200, b"not the file you want")
    mirror_server.routes["good"] = serve_directory(source)
    mirrors = [mirror_server.url(m) for m in ("error", "corrupt", "good")]
    out = tmp_path / "raw"

    fetched = fetch_all(hashes, mirrors, out, FAST)

    assert [f.mirror for f in fetched] == [mirrors[2]] * 4
    assert all(f.verified_against == UPSTREAM for f in fetched)
    assert leftovers(out) == sorted(hashes)
    for name, digest in hashes.items():
        assert (out / name).read_bytes() == (source / name).read_bytes()
        assert fetched[list(hashes).index(name)].sha256 == digest
    # The 500 was retried (transient); the corrupt mirror was not (a checksum error is final).
    first = FILE_NAMES["train_images"]
    assert mirror_server.requests.count(f"/error/{first}") == FAST.attempts
    assert mirror_server.requests.count(f"/corrupt/{first}") == 1


def test_all_mirrors_failing_names_each_and_leaves_nothing(
    mnist_dir: tuple[Path, dict], mirror_server: MirrorServer, tmp_path: Path
) -> None:
    _, hashes = mnist_dir
    mirror_server.routes["error"] = lambda name: (503, b"")
    mirror_server.routes["corrupt"] = lambda name: (200, b"garbage")
    mirrors = [mirror_server.url("error"), mirror_server.url("corrupt"), str(tmp_path / "nowhere")]
    out = tmp_path / "raw"

    with pytest.raises(DownloadError) as failure:
        fetch_file(NAME, hashes[NAME], mirrors, out, FAST)

    message = str(failure.value)
    assert f"could not download {NAME} from any mirror" in message
    assert f"{mirrors[0]}: HTTP 503" in message and "gave up after 2 attempts" in message
    assert f"{mirrors[1]}: checksum mismatch" in message
    assert f"{mirrors[2]}: no file" in message
    assert leftovers(out) == []


def test_interrupted_transfer_is_retried_and_never_visible(
    mnist_dir: tuple[Path, dict], mirror_server: MirrorServer, tmp_path: Path
) -> None:
    source, hashes = mnist_dir
    calls: list[str] = []
    good = serve_directory(source)

    def flaky(name: str) -> tuple[int, bytes] | None:
        calls.append(name)
        return None if len(calls) == 1 else good(name)

    mirror_server.routes["flaky"] = flaky
    out = tmp_path / "raw"
    fetched = fetch_file(NAME, hashes[NAME], [mirror_server.url("flaky")], out, FAST)
    assert len(calls) == 2 and fetched.sha256 == hashes[NAME]
    assert leftovers(out) == [NAME]


def test_interrupted_transfer_that_never_recovers_leaves_no_file(
    mirror_server: MirrorServer, tmp_path: Path
) -> None:
    mirror_server.routes["broken"] = lambda name: None
    out = tmp_path / "raw"
    with pytest.raises(DownloadError, match="transfer ended after 500 of 1000 bytes"):
        fetch_file(NAME, GOOD, [mirror_server.url("broken")], out, FAST)
    assert leftovers(out) == []


def test_corrupt_file_replaces_nothing_already_there(
    mirror_server: MirrorServer, tmp_path: Path
) -> None:
    out = tmp_path / "raw"
    out.mkdir()
    (out / NAME).write_bytes(b"previous good content")
    mirror_server.routes["corrupt"] = lambda name: (200, b"garbage")
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch_file(NAME, GOOD, [mirror_server.url("corrupt")], out, FAST)
    assert leftovers(out) == [NAME]
    assert (out / NAME).read_bytes() == b"previous good content"


def test_directory_mirror_with_manifest_variant(
    mnist_dir: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like ../shared/mnist: one file differs from upstream and SHA256SUMS vouches for it."""
    source, hashes = mnist_dir
    upstream = dict(hashes, **{NAME: GOOD})  # pretend upstream's labels file is another one
    (source / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in hashes.items()))
    out = tmp_path / "raw"

    with pytest.raises(DownloadError, match="differs from upstream MNIST"):
        fetch_all(upstream, [str(source)], out, FAST)
    assert NAME not in leftovers(out)

    monkeypatch.setenv("MNIST_TRUST_MIRROR_MANIFEST", "1")
    fetched = fetch_all(upstream, [str(source)], out, FAST)
    record = provenance(fetched)
    assert record["matches_upstream"] is False
    assert record["files"][NAME] == {"sha256": hashes[NAME], "verified_against": MIRROR_MANIFEST}
    assert len(record["digest"]) == 64
