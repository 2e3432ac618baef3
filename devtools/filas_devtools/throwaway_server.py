"""What every throwaway server of the test runs and `make run` shares: a real process of our own on a free
loopback port (or a given one), in a temp dir deleted when it stops, started again on another port if the
one picked was taken meanwhile. Subclasses say how to spawn it and how to tell it is up and ours."""

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

from filas_devtools.ports import free_port

START_ATTEMPTS = 3  # a port picked by free_port() can be taken before the server binds it
READY_POLL_SECONDS = 0.02


class ThrowawayServer:
    name = "server"  # names its temp dir and log file, and its errors
    stop_signal = signal.SIGTERM
    stop_grace = 5.0  # then SIGKILL

    def __init__(self, port: int | None = None, binary: str | None = None, start_timeout: float = 15.0):
        self.binary = binary
        self.port = port
        self.dir: Path | None = None
        self._wanted_port = port
        self._start_timeout = start_timeout
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def log_path(self) -> Path | None:
        return self.dir / f"{self.name}.log" if self.dir else None

    def start(self) -> str:
        self.binary = self.binary or self.find_binary()
        self.dir = Path(tempfile.mkdtemp(prefix=f"filas-{self.name}-"))
        try:
            self.prepare()
            self._start_with_retries()
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        self._end_process(self.stop_signal)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def log_tail(self, lines: int = 20) -> str:
        log = self.log_path
        if not log or not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- for subclasses -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        raise NotImplementedError

    def find_binary(self) -> str:
        raise NotImplementedError

    def prepare(self) -> None:
        """Write what the server needs in self.dir before it starts (e.g. a config file)."""

    def argv(self) -> list[str]:
        raise NotImplementedError

    def popen_options(self) -> dict:
        """More subprocess.Popen arguments (e.g. the user to run as)."""
        return {}

    def wait_ready(self) -> bool:
        """True once our server answers; False if it exited (e.g. its port was taken)."""
        deadline = time.monotonic() + self._start_timeout
        while self._process.poll() is None:
            if self.answers():
                return True
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not answer in {self._start_timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(READY_POLL_SECONDS)
        return False

    def answers(self) -> bool:
        """Whether the server on self.port answers and is ours, not another one that had the port."""
        raise NotImplementedError

    # --- helpers ---------------------------------------------------------------------------------------

    def _start_with_retries(self) -> None:
        for _ in range(START_ATTEMPTS if self._wanted_port is None else 1):
            self.port = self._wanted_port or free_port()
            self._spawn()
            if self.wait_ready():
                return
        raise RuntimeError(f"{self.name} ({self.binary}) did not start:\n{self.log_tail()}")

    def _spawn(self) -> None:
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                **self.popen_options(),
            )

    def _end_process(self, stop_signal: signal.Signals) -> None:
        """Stop the server process, keeping its temp dir and port."""
        if self._process is not None:
            _terminate(self._process, stop_signal, self.stop_grace)
            self._process = None


def _terminate(process: subprocess.Popen, stop_signal: signal.Signals, grace: float) -> None:
    if process.poll() is None:
        process.send_signal(stop_signal)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()
