"""A throwaway PostgreSQL server (Debian's package, `make postgres`) on 127.0.0.1, in a
temporary data directory, that a test can stop and start again."""

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.ports import free_port


def postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed: run `make postgres` (Debian package postgresql)")
    return found[-1].parent


class PostgresServer:
    """Its `url` names the database `database` of user `user`; `stop` and `start` control the
    server (PostgreSQL refuses to run as root: as root it runs as its system user)."""

    def __init__(self, root: Path, user: str, database: str) -> None:
        self.bin_dir, self.port, self.root = postgres_bin(), free_port(), root
        self.data, sockets = root / "data", root / "sockets"
        sockets.mkdir()
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            for path in (root, sockets):
                shutil.chown(path, "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {sockets}"
        self._as_owner("initdb", "-D", self.data, "-U", user, "-A", "trust", "--no-sync")
        self.start()
        subprocess.run([str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                        "-U", user, database], check=True, capture_output=True)  # fmt: skip
        self.url = f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, program: str, *arguments: object) -> None:
        command = [*self.as_owner, str(self.bin_dir / program), *map(str, arguments)]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> None:
        log = self.root / "server.log"
        self._as_owner("pg_ctl", "-D", self.data, "-l", log, "-o", self.options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._as_owner("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")


@contextlib.contextmanager
def postgres_server(user: str = "digits", database: str = "digits") -> Iterator[PostgresServer]:
    root = Path(tempfile.mkdtemp(prefix="digits-postgres-"))  # not under pytest's private tmp
    server = None
    try:
        server = PostgresServer(root, user, database)
        yield server
    finally:
        if server is not None:
            with contextlib.suppress(subprocess.CalledProcessError):  # stopped by the test
                server.stop()
        shutil.rmtree(root, ignore_errors=True)
