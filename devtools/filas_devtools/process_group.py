"""One subprocess in its own process group (session), its output captured line by line.

Every line goes to a log file and, optionally, to a callback (`make run` prints it with a prefix).
Stopping can reach the whole group, so children a service forks (gunicorn and dramatiq workers) go too.
"""

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

LineSink = Callable[[str, str], None]  # (process name, line without newline)


class GroupProcess:
    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path, log_path: Path,
                 on_line: LineSink | None = None):
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab", buffering=0)
        self._on_line = on_line
        try:
            self.popen = subprocess.Popen(
                list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        except OSError as error:
            self._log.write(f"cannot start {argv[0]}: {error}\n".encode())
            self._log.close()
            raise
        self.pgid = self.popen.pid  # start_new_session: the child leads its own group
        self._reader = threading.Thread(target=self._copy_output, name=f"log-{name}", daemon=True)
        self._reader.start()

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def group_alive(self) -> bool:
        self.popen.poll()  # reap the leader: a zombie still counts as a group member
        return bool(group_members(self.pgid))

    def terminate(self) -> None:
        """SIGTERM to the process we started, as Kubernetes does: it stops its own children (gunicorn and
        dramatiq pass the signal on; a second SIGTERM sent to their children directly would make
        dramatiq's worker process exit at once instead of finishing its messages)."""
        if self.popen.poll() is None:
            self.popen.terminate()

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            pass

    def wait_group(self, deadline: float) -> bool:
        """Wait until no process of the group is left or `deadline` (monotonic) passes; True if gone.

        Once the leader has exited, what is left of its group gets one SIGTERM."""
        orphans_told = False
        while self.group_alive():
            if self.popen.returncode is not None and not orphans_told:
                self.signal_group(signal.SIGTERM)
                orphans_told = True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self) -> None:
        self.popen.wait()
        self._reader.join(timeout=5)
        self._log.close()

    def _copy_output(self) -> None:
        for raw in iter(self.popen.stdout.readline, b""):
            self._log.write(raw)
            if self._on_line is not None:
                try:
                    self._on_line(self.name, raw.decode("utf-8", "replace").rstrip("\r\n"))
                except Exception:
                    self._on_line = None
        self.popen.stdout.close()


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids in process group `pgid`."""
    if not os.path.isdir("/proc"):
        try:
            os.killpg(pgid, 0)
            return [pgid]
        except ProcessLookupError:
            return []
    return [proc.pid for proc in proc_stats() if proc.pgid == pgid and proc.state not in "ZX"]


class ProcStat(NamedTuple):
    pid: int
    ppid: int
    pgid: int
    state: str  # Z and X: zombie or dead


def proc_stats() -> Iterator[ProcStat]:
    """Every process in /proc, read from /proc/<pid>/stat."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        yield ProcStat(int(entry), int(fields[1]), int(fields[2]), fields[0].decode())


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
