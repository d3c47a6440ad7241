"""The served app as production runs it: `ronghe serve --workers N`, started, watched, stopped.

Its log (uvicorn's, access lines included) tells when each worker is ready and whether the
supervisor had to replace one (uvicorn 0.55, supervisors/multiprocess.py: "Child process [pid]
died", "... failed to start", "... was not ready in time").
"""

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

READY_LINE = "Application startup complete."
RESTART_LINE = re.compile(r"Child process \[\d+\] (died|failed to start)|was not ready in time")
POLL_S = 0.1
STOP_TIMEOUT_S = 15
LOG_TAIL_LINES = 30
# A proxy from the environment must not stand between the runner and its own server.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    workers: int
    launched: float
    first_answer_s: float | None = None
    all_ready_s: float | None = None

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def log_tail(self) -> str:
        return "\n".join(self.log_text().splitlines()[-LOG_TAIL_LINES:])

    def ready_workers(self) -> int:
        return self.log_text().count(READY_LINE)

    def restarts(self) -> list[str]:
        """The supervisor's lines about workers it had to replace."""
        return [line for line in self.log_text().splitlines() if RESTART_LINE.search(line)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def answers_health(url: str) -> bool:
    try:
        with DIRECT.open(f"{url}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@contextmanager
def served(
    *, command: list[str], env: dict[str, str], workers: int, log: Path, cwd: Path, timeout_s: float
) -> Iterator[Server]:
    """The server, answering /healthz, until the block ends; it is stopped however it ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [*command, "serve", "--workers", str(workers)]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own arguments, no shell
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(process, url, log, workers, time.perf_counter())
    try:
        wait_until_serving(server, timeout_s)
        yield server
    finally:
        stop(server)


def wait_until_serving(server: Server, timeout_s: float) -> None:
    """Until /healthz answers and every worker has started, or the time is up. A server that
    exits, or never answers, stops the benchmark; one that answers with fewer workers ready
    than asked for is measured as it is (the report says so)."""
    deadline = server.launched + timeout_s
    while time.perf_counter() < deadline:
        code = server.process.poll()
        if code is not None:
            raise SystemExit(
                f"bench.http: the server exited (code {code}) before it answered; its log:\n"
                + server.log_tail()
            )
        elapsed = time.perf_counter() - server.launched
        if server.first_answer_s is None and answers_health(server.url):
            server.first_answer_s = elapsed
        if server.first_answer_s is not None and server.ready_workers() >= server.workers:
            server.all_ready_s = elapsed
            return
        time.sleep(POLL_S)
    if server.first_answer_s is None:
        raise SystemExit(
            f"bench.http: the server did not answer {server.url}/healthz within {timeout_s:.0f} s;"
            " its log:\n" + server.log_tail()
        )


def require_alive(server: Server) -> None:
    code = server.process.poll()
    if code is not None:
        raise SystemExit(
            f"bench.http: the server exited (code {code}) during the run; its log:\n"
            + server.log_tail()
        )
    if not answers_health(server.url):
        raise SystemExit(f"bench.http: the server at {server.url} stopped answering /healthz")


def stop(server: Server) -> None:
    workers = worker_pids(server)
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    for pid in workers:  # a worker the killed supervisor left behind
        if b"spawn_main" in cmdline(pid):
            os.kill(pid, signal.SIGKILL)


def worker_pids(server: Server) -> list[int]:
    """The processes serving requests: the supervisor's spawned children, or the server
    process itself when it runs one worker."""
    pid = server.process.pid
    if server.workers == 1:
        return [pid] if Path(f"/proc/{pid}").exists() else []
    return [child for child in children(pid) if b"spawn_main" in cmdline(child)]


def children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return sorted(found)


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def memory_mib(pid: int) -> dict[str, float]:
    """Resident memory now (VmRSS) and at its peak (VmHWM), in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024  # kB
    return {"rss_mib": round(found["VmRSS"], 1), "hwm_mib": round(found["VmHWM"], 1)}


def worker_memory(server: Server) -> list[dict[str, float]]:
    return [{"pid": pid, **memory_mib(pid)} for pid in worker_pids(server)]
