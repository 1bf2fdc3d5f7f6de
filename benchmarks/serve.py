"""Serving benchmark: the real service against a baseline, in one run, measured by `hey`.

Both run with `bentoml serve` on 127.0.0.1: the service from the packaged bento
(dist/bento.json) in an environment made from the bento's own lock (no TensorFlow); the
baseline from benchmarks/naive_service.py (Keras `model.predict` per request) or, with
--baseline, another bento (an earlier version of the service); and the service again with its
prediction log off, to show what logging every answer costs. For each: start-up time to
ready, memory of its processes, single-image /predict latency (p50/p95/p99) at concurrency
1, 8 and 32, requests/s at 32, and images/s through /predict_batch. Every request is a
400x400 JPEG photo of a handwritten digit. For the service, also /read of an 800x300 photo of a
4-digit number (latency at concurrency 1) and, with the pipeline's test split at hand, how many
generated numbers (digits apart, or a touching pair) the served /read reads right.

    python benchmarks/serve.py [--seconds 10] [--only service|baseline] [--baseline BENTO]
"""

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import psutil
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
# The tests' free_port and poll_until (tests/support/), so that both are written once.
sys.path.insert(0, str(ROOT / "tests"))
from support.polling import poll_until  # noqa: E402
from support.ports import free_port  # noqa: E402

from digits.compose import compose_number  # noqa: E402
from digits.dataset import load_split  # noqa: E402
from digits.paths import split_file  # noqa: E402
from digits.wild import ink_photo, make_number_set, number_photo  # noqa: E402

BATCH = 32  # images per /predict_batch request


def generated_one() -> np.ndarray:
    """A 28x28 "1" with a flag (a stroke pattern, not MNIST data): enough for realistic images."""
    digit = np.zeros((28, 28), np.float32)
    digit[5:23, 12:16] = 1.0
    digit[5:9, 8:14] = 1.0
    return digit


def photo_400(seed: int) -> bytes:
    """A 400x400 JPEG phone photo of a generated digit."""
    rng = np.random.default_rng(seed)
    digit = generated_one()
    image = Image.open(io.BytesIO(ink_photo(digit, rng))).convert("RGB").resize((400, 400))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def test_digits() -> tuple[np.ndarray, np.ndarray] | None:
    """The pipeline's test split (digits never trained on), when it has been made here."""
    path = split_file("test")  # in this checkout: digits.paths resolves from the package
    if not path.exists():
        return None
    images, labels = load_split(path)
    return images[..., 0], labels


def number_800x300(seed: int) -> bytes:
    """An 800x300 JPEG phone photo of a 4-digit number: test digits, else generated strokes."""
    rng = np.random.default_rng(seed)
    found = test_digits()
    if found is None:
        digits = [generated_one() for _ in range(4)]
    else:
        digits = list(found[0][rng.choice(len(found[0]), 4, replace=False)])
    return number_photo(compose_number(digits, rng), rng, 800, 300)


def read_accuracy(url: str, count: int) -> dict:
    """The share of generated numbers of test digits the served /read reads right: digits
    apart, and with a touching pair (the evaluate stage's sets, through a real server)."""
    found = test_digits()
    if found is None or not count:
        return {}
    scores = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        for group, touching in (("apart", False), ("touching", True)):
            right = 0
            for sample in make_number_set(*found, count, 1, touching):
                upload = {"image": ("n.jpg", sample.data, "image/jpeg")}
                response = client.post("/read", files=upload).raise_for_status()
                right += response.json().get("number") == sample.number
            scores[f"read_accuracy_{group}"] = right / count
    return scores


def multipart(field: str, files: list[bytes]) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="p{i}.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode()
        + data
        + b"\r\n"
        for i, data in enumerate(files)
    ]
    return f"multipart/form-data; boundary={boundary}", b"".join(
        parts
    ) + f"--{boundary}--\r\n".encode()


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    startup_seconds: float

    def memory_mb(self) -> list[float]:
        """Resident memory of each process of the server (BentoML's supervisor and workers)."""
        family = [
            psutil.Process(self.process.pid),
            *psutil.Process(self.process.pid).children(True),
        ]
        return [round(p.memory_info().rss / 2**20) for p in family if p.is_running()]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def bento_path(tag: str, env: dict) -> Path:
    where = ["bentoml", "get", tag, "-o", "path"]
    return Path(
        subprocess.run(where, env=env, capture_output=True, text=True, check=True).stdout.strip()
    )


def own_environment(bento: Path, work: Path) -> Path:
    """A virtual environment with exactly the bento's locked requirements, as a deployment
    installs them (uv; from its cache when warm); returns its bin directory."""
    venv = work / f"env-{bento.name}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    requirements = bento / "env/python/requirements.txt"
    sync = ["uv", "pip", "sync", "--quiet", "--python", str(venv / "bin/python"), str(requirements)]
    subprocess.run(sync, check=True)
    return venv / "bin"


def start(target: str, env: dict, log: Path, own_env: bool = False) -> Server:
    """`bentoml serve` of a bento (its own code, and with `own_env` in an environment of its
    own requirements) or of a service of this checkout."""
    cwd, bentoml = ROOT, "bentoml"
    name = target.split(":")[0]
    if "." not in name and "/" not in name:  # a bento (name:version) runs its own code, not ours
        bento = bento_path(target, env).resolve()
        env, cwd = {**env, "PYTHONPATH": str(bento / "src")}, log.parent
        if own_env:
            bentoml = str(own_environment(bento, log.parent) / "bentoml")
    port = free_port()
    command = [bentoml, "serve", target, "--host", "127.0.0.1", "--port", str(port)]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{target} exited with {process.returncode}; see {log}")
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200

    try:
        what = f"{target} to be ready (see {log})"
        poll_until(ready, 180, what, interval=0.25, ignoring=(httpx.HTTPError,))
    except TimeoutError:
        process.kill()
        raise
    return Server(process, url, time.perf_counter() - started)


def hey(url: str, content_type: str, body: Path, concurrency: int, seconds: float) -> dict:
    """Run `hey` for a duration; latency percentiles (ms), requests/s and status counts."""
    command = ["hey", "-z", f"{seconds}s", "-c", str(concurrency), "-m", "POST", "-T", content_type,
               "-D", str(body), "-o", "csv", url]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows = list(csv.DictReader(io.StringIO(output)))
    latency = np.array([float(r["response-time"]) for r in rows]) * 1000
    finished = max(float(r["offset"]) + float(r["response-time"]) for r in rows)
    statuses = {}
    for row in rows:
        statuses[row["status-code"]] = statuses.get(row["status-code"], 0) + 1
    if set(statuses) != {"200"}:  # timing failed requests would measure the failure
        raise RuntimeError(f"{url}: answers by status {statuses}, not all 200; see its log")
    p50, p95, p99 = np.percentile(latency, [50, 95, 99])
    return {"p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "requests_per_s": len(rows) / finished,
            "requests": len(rows), "statuses": statuses}  # fmt: skip


def measure(
    server: Server, bodies: dict, seconds: float, reads: bool = False, numbers: int = 0
) -> dict:
    """Latencies and throughputs; with `reads`, also /read's latency and, for `numbers` numbers
    of each kind, its accuracy."""
    results = {"startup_s": server.startup_seconds}
    for concurrency in (1, 8, 32):
        results[f"c{concurrency}"] = hey(
            f"{server.url}/predict", *bodies["single"], concurrency, seconds
        )
    batch = hey(f"{server.url}/predict_batch", *bodies["batch"], 4, seconds)
    results["batch"] = batch | {"images_per_s": batch["requests_per_s"] * BATCH}
    if reads:
        results["read"] = hey(f"{server.url}/read", *bodies["number"], 1, seconds)
        results |= read_accuracy(server.url, numbers)
    results["memory_mb"] = server.memory_mb()
    return results


ROWS = [  # (label, extractor, format, higher is better)
    ("start-up to ready (s)", lambda r: r["startup_s"], "{:.1f}", False),
    ("memory, all processes (MB)", lambda r: sum(r["memory_mb"]), "{:.0f}", False),
    *[
        (f"/predict c={c} {p} (ms)", lambda r, c=c, p=p: r[f"c{c}"][f"{p}_ms"], "{:.1f}", False)
        for c in (1, 8, 32)
        for p in ("p50", "p95", "p99")
    ],
    ("/predict c=32 requests/s", lambda r: r["c32"]["requests_per_s"], "{:.0f}", True),
    (
        f"/predict_batch ({BATCH} per request, c=4) images/s",
        lambda r: r["batch"]["images_per_s"],
        "{:.0f}",
        True,
    ),
]


def table(results: dict) -> str:
    names = list(results)
    heading = f" | {names[1]} against {names[0]} (x, > 1 is better) |" if len(names) == 2 else " |"
    lines = ["| | " + " | ".join(names) + heading]
    lines.append("|---" * (len(names) + 1 + (len(names) == 2)) + "|")
    for label, value, fmt, higher_better in ROWS:
        values = [value(results[name]) for name in names]
        cells = [fmt.format(v) for v in values]
        if len(names) == 2:
            baseline, service = values
            ratio = service / baseline if higher_better else baseline / service
            cells.append(f"{ratio:.1f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def packaged_bento() -> tuple[dict, dict]:
    """dist/bento.json and the environment to serve it in; the bento is imported into the
    BentoML store if it is not there yet."""
    info = json.loads((ROOT / "dist/bento.json").read_text())
    env = {**os.environ, "DIGITS_MODEL": info["bento_model"], "BENTOML_DO_NOT_TRACK": "True"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    known = subprocess.run(["bentoml", "get", info["bento_tag"]], env=env, capture_output=True)
    if known.returncode:
        subprocess.run(["bentoml", "import", str(ROOT / "dist/digits.bento")], env=env, check=True)
    return info, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="per measurement")
    parser.add_argument("--only", choices=["baseline", "service"])
    parser.add_argument(
        "--numbers", type=int, default=2000, help="numbers of each kind read for /read's accuracy"
    )
    parser.add_argument(
        "--from-source", action="store_true", help="serve service/ of this checkout, not the bento"
    )
    parser.add_argument(
        "--baseline",
        metavar="BENTO",
        default="benchmarks/naive_service.py:NaiveDigits",
        help="what to compare against: another bento tag (an earlier service), or by default"
        " the naive service",
    )
    args = parser.parse_args()
    if not shutil.which("hey"):
        sys.exit(
            "bench-serve: needs the `hey` load generator (Debian package hey; make bench-serve)"
        )
    info, env = packaged_bento()
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    bodies = {}
    uploads = {
        "single": ("image", [photo_400(0)]),
        "batch": ("images", list(map(photo_400, range(BATCH)))),
        "number": ("image", [number_800x300(0)]),
    }
    for name, (field, files) in uploads.items():
        content_type, body = multipart(field, files)
        (work / name).write_bytes(body)
        bodies[name] = (content_type, work / name)
    service = "service.service:DigitRecognizer" if args.from_source else info["bento_tag"]
    # The service logs every answer (SQLite, as by default); its run with the prediction log
    # off shows what logging costs.
    targets = {
        "baseline": (args.baseline, {}),
        "service": (service, {"DIGITS_PREDICTION_LOG": str(work / "predictions.db")}),
        "service, log off": (service, {"DIGITS_PREDICTION_LOG": "off"}),
    }
    results = {}
    for name, (target, settings) in targets.items():
        if args.only and not name.startswith(args.only):
            continue
        print(f"bench-serve: {name}: bentoml serve {target}", flush=True)
        own_env = name.startswith("service") and not args.from_source
        server = start(target, env | settings, work / f"{name}.log", own_env)
        try:
            reads = name.startswith("service")
            numbers = args.numbers if name == "service" else 0
            results[name] = measure(server, bodies, args.seconds, reads, numbers)
        finally:
            server.stop()
        print(json.dumps(results[name]), flush=True)
    for pair in (("baseline", "service"), ("service, log off", "service")):
        if all(name in results for name in pair):
            print(table({name: results[name] for name in pair}), end="\n\n")
    for name, result in results.items():
        if "read" in result:
            read = result["read"]
            scored = [f"{key} {result[key]:.3f}" for key in result if "accuracy" in key]
            accuracy = (
                ", ".join(scored) or "accuracy: not measured (no test split, or not this run)"
            )
            latency = f"p50 {read['p50_ms']:.1f} ms, p95 {read['p95_ms']:.1f} ms"
            print(f"{name}: /read of an 800x300 4-digit photo, c=1: {latency}; {accuracy}")


if __name__ == "__main__":
    main()
