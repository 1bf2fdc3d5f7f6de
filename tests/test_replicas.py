"""Several instances of the service behind one address: HAProxy (Debian's package, `make
haproxy`) with service/haproxy.cfg in front of two real `bentoml serve` of the exported bento.
Requests spread over both, and keep being answered when one instance crashes."""

import contextlib
import csv
import shutil
from pathlib import Path

import httpx
import pytest
from hostile_uploads import digit, encode
from support.polling import poll_until
from support.ports import free_port
from support.processes import listening_on, running, serving
from support.project import PROJECT_ROOT, Project

pytestmark = pytest.mark.integration


def replica_stats(stats_url: str) -> dict[str, dict[str, str]]:
    """HAProxy's CSV statistics of the `replicas` backend's servers, by server name."""
    text = httpx.get(f"{stats_url}/stats;csv", timeout=5).text.removeprefix("# ")
    rows = csv.DictReader(text.splitlines())
    return {row["svname"]: row for row in rows if row["pxname"] == "replicas"}


def wait_for_status(stats_url: str, server: str, status: str, timeout: float = 20) -> None:
    def reached() -> bool:
        return replica_stats(stats_url)[server]["status"] == status

    try:
        poll_until(reached, timeout, f"HAProxy to see {server} {status}")
    except TimeoutError as late:
        pytest.fail(f"{late}: {replica_stats(stats_url)}")


def crash_instance(address: str) -> None:
    """SIGKILL a `bentoml serve` instance, as a machine failure would: the worker listening on
    host:port and its supervisor (which would otherwise start a new worker), at once."""
    supervisor = listening_on(int(address.rpartition(":")[2])).parent()
    for process in (supervisor, *supervisor.children(recursive=True)):
        process.kill()


def test_two_instances_behind_haproxy_share_requests_and_survive_one_crashing(
    pipeline_project: Project, tmp_path: Path
) -> None:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.fail("HAProxy is not installed: run `make haproxy` (Debian package haproxy)")
    bento = pipeline_project.path / "dist/digits.bento"
    env = {**pipeline_project.env, "DIGITS_WORKERS": "1"}
    upload = {"image": ("seven.png", encode(digit(), "PNG"), "image/png")}
    lb_port, stats_port = free_port(), free_port()
    with contextlib.ExitStack() as replicas:
        addresses = []
        for name in ("replica1", "replica2"):
            (tmp_path / name).mkdir()
            url = replicas.enter_context(serving(bento, tmp_path / name, env))
            addresses.append(url.removeprefix("http://"))
        (tmp_path / "lb").mkdir()
        balancer = running(
            [haproxy, "-db", "-f", str(PROJECT_ROOT / "service/haproxy.cfg")], tmp_path / "lb",
            {**env, "DIGITS_LB_ADDRESS": f"127.0.0.1:{lb_port}",
             "DIGITS_LB_STATS": f"127.0.0.1:{stats_port}",
             "DIGITS_REPLICA1": addresses[0], "DIGITS_REPLICA2": addresses[1]},
            f"http://127.0.0.1:{lb_port}", "/readyz",
        )  # fmt: skip
        with balancer as url, httpx.Client(base_url=url, timeout=60) as client:
            stats = f"http://127.0.0.1:{stats_port}"
            for server in ("replica1", "replica2"):
                wait_for_status(stats, server, "UP")
            answers = [client.post("/predict", files=upload) for _ in range(20)]
            assert {answer.status_code for answer in answers} == {200}
            assert len({answer.json()["digit"] for answer in answers}) == 1
            served = {name: int(row["stot"]) for name, row in replica_stats(stats).items()}
            assert served["replica1"] > 0 and served["replica2"] > 0, served

            crash_instance(addresses[1])  # replica2 dies without notice; requests keep coming
            after = [client.post("/predict", files=upload) for _ in range(20)]
            assert [answer.status_code for answer in after] == [200] * 20
            wait_for_status(stats, "replica2", "DOWN")
            assert int(replica_stats(stats)["BACKEND"]["wredis"]) > 0  # resent, not lost
            assert client.post("/predict", files=upload).status_code == 200
            assert client.get("/readyz").status_code == 200
