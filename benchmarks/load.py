"""Load benchmark: the packaged service under sustained mixed traffic, valid and hostile.

Starts the bento (dist/bento.json) with `bentoml serve` on 127.0.0.1 and drives /predict with
`wrk` at concurrency 64 for 60 s: 400x400 JPEG photos of digits and the hostile corpus of the
tests (tests/hostile_uploads.py, bodies up to 1 MB), about half each. Checks that no request
got a 5xx or a connection error, that every status is the one its request must get (counted per
request kind, up to the requests still in flight at the end), that the service is ready
afterwards, and reports requests/s, latency and the resident memory of the service's processes
over the run.

    python benchmarks/load.py [--seconds 60] [--connections 64] [--valid-only]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]
from hostile_uploads import uploads  # noqa: E402

from benchmarks.serve import Server, multipart, packaged_bento, photo_400, start  # noqa: E402

PHOTO_COPIES = 12  # of each of 3 photos: about as many valid requests as hostile ones
MAX_BODY = 1 << 20  # larger hostile bodies (the 11 MB one) are left to the tests
THREADS = 2  # of wrk


def request_set(valid_only: bool) -> list[tuple[str, str | None, bytes, int]]:
    """(name, content type, body, expected status) for every request wrk cycles through."""
    photos = []
    for seed in range(3):
        content_type, body = multipart("image", [photo_400(seed)])
        photos += [(f"photo {seed}", content_type, body, 200)] * PHOTO_COPIES
    if valid_only:
        return photos
    hostile = [
        (u.name, u.content_type, u.body, u.status) for u in uploads() if len(u.body) <= MAX_BODY
    ]
    return photos + hostile


class MemorySampler(threading.Thread):
    """Samples the resident memory (MB) of the server's processes every few seconds."""

    def __init__(self, server: Server, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.server, self.every, self.samples = server, every, []
        self.stopped = threading.Event()

    def run(self) -> None:
        started = time.perf_counter()
        while not self.stopped.is_set():
            self.samples.append((time.perf_counter() - started, sum(self.server.memory_mb())))
            self.stopped.wait(self.every)


def run_wrk(url: str, manifest: Path, connections: int, seconds: float) -> str:
    script = str(ROOT / "benchmarks/load.lua")
    command = ["wrk", "-t", str(THREADS), "-c", str(connections), "-d", f"{seconds:g}s",
               "--timeout", "30s", "-s", script, url, "--", str(manifest)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def parse(output: str) -> dict:
    sent, statuses, result = Counter(), Counter(), {}
    for line in output.splitlines():
        fields = line.split()
        if fields[:1] == ["sent"]:
            sent[int(fields[1])] += int(fields[2])
        elif fields[:1] == ["status"]:
            statuses[int(fields[1])] += int(fields[2])
        elif fields[:1] in (["errors"], ["latency"]):
            result[fields[0]] = {k: int(v) for k, v in (f.split("=") for f in fields[1:])}
        elif fields[:1] == ["completed"]:
            result["completed"] = int(fields[1])
        elif line.strip().startswith("Requests/sec:"):
            result["requests_per_s"] = float(fields[1])
    return result | {"sent": sent, "statuses": statuses}


def verdict(result: dict, requests: list, connections: int) -> list[str]:
    """What went wrong, if anything: 5xx, connection errors, lost or misanswered requests."""
    expected = Counter()
    for index, count in result["sent"].items():  # wrk's indices count from 1
        expected[requests[index - 1][3]] += count
    problems = []
    errors = {k: v for k, v in result["errors"].items() if k != "status" and v}
    if errors:
        problems.append(f"connection errors: {errors}")
    server_errors = {s: n for s, n in result["statuses"].items() if s >= 500}
    if server_errors:
        problems.append(f"5xx answers: {server_errors}")
    # When wrk stops, each connection may have a request out, and each thread one more made.
    unanswered = connections + THREADS
    in_flight = sum(expected.values()) - result["completed"]
    if not 0 <= in_flight <= unanswered:
        problems.append(f"{in_flight} requests sent but not answered (at most {unanswered})")
    for status in set(expected) | set(result["statuses"]):
        gap = expected[status] - result["statuses"][status]
        if not 0 <= gap <= unanswered:
            problems.append(
                f"status {status}: {result['statuses'][status]} answers, {expected[status]} due"
            )
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--valid-only", action="store_true", help="photos only, all due 200")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench-load: needs the `wrk` load generator (Debian package wrk; make bench-load)")
    info, env = packaged_bento()
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    requests = request_set(args.valid_only)
    lines = []
    for index, (name, content_type, body, _) in enumerate(requests):
        (work / f"{index}.body").write_bytes(body)
        lines.append(f"{name}\t{content_type or '-'}\t{work / f'{index}.body'}")
    (work / "manifest.tsv").write_text("\n".join(lines) + "\n")
    kinds = Counter(status for *_, status in requests)
    print(f"bench-load: {len(requests)} requests in the cycle, due statuses {dict(kinds)}")

    server = start(info["bento_tag"], env, work / "service.log")
    sampler = MemorySampler(server)
    try:
        run_wrk(server.url, work / "manifest.tsv", 8, 5)  # warm-up, not counted
        sampler.start()
        print(f"bench-load: wrk -c {args.connections} for {args.seconds:g} s", flush=True)
        result = parse(run_wrk(server.url, work / "manifest.tsv", args.connections, args.seconds))
        ready = httpx.get(f"{server.url}/readyz", timeout=10).status_code
    finally:
        sampler.stopped.set()
        server.stop()
    memory = sampler.samples
    problems = verdict(result, requests, args.connections)
    if ready != 200:
        problems.append(f"/readyz answered {ready} after the run")
    print(f"requests answered: {result['completed']} ({result['requests_per_s']:.0f}/s)")
    print(f"statuses: {dict(sorted(result['statuses'].items()))}")
    print(f"errors: {result['errors']}")
    latency = result["latency"]
    print(f"latency (ms): p50 {latency['p50'] / 1000:.1f}, p99 {latency['p99'] / 1000:.1f},"
          f" max {latency['max'] / 1000:.1f}")  # fmt: skip
    series = ", ".join(f"{t:.0f}s {mb:.0f}" for t, mb in memory)
    print(f"memory of all service processes (MB) over the run: {series}")
    first, last, highest = memory[0][1], memory[-1][1], max(mb for _, mb in memory)
    print(f"memory growth: {last - first:+.0f} MB over the run (first sample {first:.0f} MB,"
          f" highest {highest:.0f} MB)")  # fmt: skip
    outcome = "FAILED: " + "; ".join(problems) if problems else "all answered as due"
    print(f"bench-load: {outcome}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
