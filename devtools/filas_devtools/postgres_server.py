"""A throwaway real PostgreSQL: initdb in a temp dir, listening on 127.0.0.1:<free port>.

    with PostgresServer() as pg:
        use(pg.url)             # postgresql+psycopg://filas@127.0.0.1:<port>/filas

PostgreSQL refuses to run as root, so as root (CI, these machines) initdb and pg_ctl run as the
`postgres` user through runuser, in a temp dir that user owns.
"""

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Self

import psycopg

from filas_devtools.ports import HOST, free_port

SUPERUSER = "filas"
START_ATTEMPTS = 3  # a port picked by free_port() can be taken before the server binds it
# Throwaway data: skip every durability cost.
FAST_SETTINGS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


class PostgresNotFound(RuntimeError):
    pass


class PostgresCommandFailed(RuntimeError):
    pass


def find_postgres_bindir(root: Path = Path("/usr/lib/postgresql")) -> Path:
    """The newest <root>/<version>/bin (Debian's layout), else the directory of `pg_ctl` on PATH."""
    candidates = sorted(
        (path for path in root.glob("*/bin") if (path / "initdb").is_file()),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path.parent.name)],
    )
    if candidates:
        return candidates[-1]
    on_path = shutil.which("pg_ctl")
    if on_path and Path(on_path).with_name("initdb").is_file():
        return Path(on_path).parent
    raise PostgresNotFound(
        "No PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/<version>/bin or on PATH: "
        "install them (Debian: apt-get install postgresql)"
    )


class PostgresServer:
    def __init__(self, port: int | None = None, database: str = "filas", bindir: Path | None = None):
        self.bindir = bindir
        self.port = port
        self.database = database
        self.dir: Path | None = None
        self._wanted_port = port
        self._started = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{self.database}"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def start(self) -> str:
        self.bindir = self.bindir or find_postgres_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="filas-pg-"))
        try:
            self._own_dir()
            self._run("initdb", "-D", self.data_dir, "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
                      "--locale=C", "--no-sync")
            self._start_with_retries()
            self._create_database()
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        if self._started:
            self._stop_server()
            self._started = False
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- an outage and a recovery (fault tests): same data directory, same port --------------------

    @property
    def running(self) -> bool:
        return self._started

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server but keep its data directory and port, as an outage would; `mode` is pg_ctl's
        (fast: clients are disconnected at once; immediate: no clean shutdown, recovery at the next start)."""
        if not self._started:
            return
        self._run("pg_ctl", "-D", self.data_dir, "-m", mode, "-w", "-t", "30", "stop")
        self._started = False

    def start_server(self) -> None:
        """Start again, after stop_server(), on the same port with the same data."""
        if self._started:
            return
        if self.dir is None or self.port is None:
            raise RuntimeError("start() first: there is no data directory to start from")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses={HOST} {FAST_SETTINGS}"
        try:
            self._run("pg_ctl", "-D", self.data_dir, "-l", self.dir / "postgres.log", "-w", "-t", "60",
                      "-o", options, "start")
        except PostgresCommandFailed as failure:
            raise PostgresCommandFailed(f"{failure}\n{self._log_tail()}") from None
        self._started = True

    def _own_dir(self) -> None:
        if os.geteuid() == 0:
            user = _server_user()
            os.chown(self.dir, user.pw_uid, user.pw_gid)

    def _start_with_retries(self) -> None:
        error = None
        for _ in range(START_ATTEMPTS if self._wanted_port is None else 1):
            self.port = self._wanted_port or free_port()
            options = f"-p {self.port} -k {self.dir} -c listen_addresses={HOST} {FAST_SETTINGS}"
            try:
                self._run("pg_ctl", "-D", self.data_dir, "-l", self.dir / "postgres.log", "-w", "-t", "60",
                          "-o", options, "start")
                self._started = True
                return
            except PostgresCommandFailed as failure:
                error = failure
        raise PostgresCommandFailed(f"{error}\n{self._log_tail()}")

    def _create_database(self) -> None:
        with psycopg.connect(host=HOST, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def _stop_server(self) -> None:
        try:
            self._run("pg_ctl", "-D", self.data_dir, "-m", "immediate", "-w", "-t", "30", "stop")
        except PostgresCommandFailed:
            self._kill_postmaster()

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass

    def _run(self, tool: str, *args) -> subprocess.CompletedProcess:
        argv = [str(self.bindir / tool), *map(str, args)]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", _server_user().pw_name, "--", *argv]
        result = subprocess.run(
            argv, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, cwd=self.dir, start_new_session=True,
        )
        if result.returncode != 0:
            raise PostgresCommandFailed(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}")
        return result

    def _log_tail(self, lines: int = 20) -> str:
        log = self.dir / "postgres.log" if self.dir else None
        if not log or not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresNotFound(
            "Running as root, PostgreSQL must run as an unprivileged user, but there is no `postgres` user "
            "(Debian's postgresql package creates it)"
        ) from None
