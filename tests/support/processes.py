"""Commands and servers the tests run: a command with its output in the report, a server
process stopped afterwards, an exported bento served with `bentoml serve` on 127.0.0.1."""

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from support.polling import poll_until
from support.ports import free_port


def run(
    command: list[str], cwd: Path, env: dict, check: bool = True
) -> subprocess.CompletedProcess:
    """Run a command; on failure show its output in the test report."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


@contextlib.contextmanager
def running(
    command: list[str], cwd: Path, env: dict, url: str, ready_path: str, timeout: float = 240
) -> Iterator[str]:
    """A server process, logged to cwd/server.log, yielded once `ready_path` answers 200 (a
    failure as soon as the process exits before that); the process group is stopped
    afterwards."""
    log = (cwd / "server.log").open("w")
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode} before it was ready")
        return httpx.get(f"{url}{ready_path}", timeout=2).status_code == 200

    try:
        what = f"{url}{ready_path} to answer 200 (log: {cwd / 'server.log'})"
        poll_until(ready, timeout, what, ignoring=(httpx.HTTPError,))
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):  # unless the test killed it already
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@contextlib.contextmanager
def serving(bento: Path, workdir: Path, env: dict) -> Iterator[str]:
    """An exported .bento imported into an empty BentoML home under `workdir` and served with
    `bentoml serve` on 127.0.0.1 from there; yields its URL, stops it afterwards."""
    env = dict(env, BENTOML_HOME=str(workdir / "bentoml"))
    env.pop("PYTHONPATH", None)
    tag = json.loads(bento.with_name("bento.json").read_text())["bento_tag"]
    run(["bentoml", "import", str(bento.resolve())], workdir, env)
    port = free_port()
    command = ["bentoml", "serve", tag, "--host", "127.0.0.1", "--port", str(port)]
    with running(command, workdir, env, f"http://127.0.0.1:{port}", "/readyz") as url:
        yield url


def listening_on(port: int) -> psutil.Process:
    """The process psutil names as the owner of the socket listening on `port` (one,
    even when several processes share the socket, as BentoML's workers do)."""
    [pid] = {
        connection.pid
        for connection in psutil.net_connections("tcp")
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port
    }
    return psutil.Process(pid)
