"""A throwaway real PostgreSQL: initdb in a temp dir, listening on 127.0.0.1:<free port>.

    with PostgresServer() as pg:
        use(pg.url)             # postgresql+psycopg://filas@127.0.0.1:<port>/filas

PostgreSQL refuses to run as root, so as root (CI, these machines) initdb and postgres run as the
`postgres` user, in a temp dir that user owns. The server runs in the foreground, a ThrowawayServer like
RedisServer; stop_server() and start_server() make an outage and a recovery on the same port and data.
"""

import os
import pwd
import re
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg

from filas_devtools.ports import HOST
from filas_devtools.throwaway_server import ThrowawayServer

SUPERUSER = "filas"
# Throwaway data: skip every durability cost.
FAST_SETTINGS = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
# pg_ctl's shutdown modes, as the signals it sends the postmaster.
SHUTDOWN_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


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


class PostgresServer(ThrowawayServer):
    name = "postgres"
    stop_signal = SHUTDOWN_SIGNALS["immediate"]  # throwaway data: no clean shutdown needed
    stop_grace = 30.0

    def __init__(self, port: int | None = None, database: str = "filas", bindir: Path | None = None,
                 start_timeout: float = 60.0):
        super().__init__(port, start_timeout=start_timeout)
        self.bindir = bindir
        self.database = database

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{self.database}"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def start(self) -> str:
        url = super().start()
        try:
            self._create_database()
        except BaseException:
            self.stop()
            raise
        return url

    # --- an outage and a recovery (fault tests): same data directory, same port --------------------

    @property
    def running(self) -> bool:
        return self._process is not None

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server but keep its data directory and port, as an outage would; `mode` is pg_ctl's
        (fast: clients are disconnected at once; immediate: no clean shutdown, recovery at the next start)."""
        self._end_process(SHUTDOWN_SIGNALS[mode])

    def start_server(self) -> None:
        """Start again, after stop_server(), on the same port with the same data."""
        if self.running:
            return
        if self.dir is None or self.port is None:
            raise RuntimeError("start() first: there is no data directory to start from")
        self._spawn()
        if not self.wait_ready():
            self._end_process(self.stop_signal)
            raise PostgresCommandFailed(f"postgres did not start again on port {self.port}:\n{self.log_tail()}")

    # --- ThrowawayServer --------------------------------------------------------------------------

    def find_binary(self) -> str:
        self.bindir = self.bindir or find_postgres_bindir()
        return str(self.bindir / "postgres")

    def prepare(self) -> None:
        self._own_dir()
        self._run("initdb", "-D", self.data_dir, "-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--locale=C",
                  "--no-sync")

    def argv(self) -> list[str]:
        return [self.binary, "-D", str(self.data_dir), "-p", str(self.port), "-k", str(self.dir),
                "-c", f"listen_addresses={HOST}", *FAST_SETTINGS]

    def popen_options(self) -> dict:
        return {"cwd": self.dir, **_as_server_user()}

    def answers(self) -> bool:
        try:
            with psycopg.connect(host=HOST, port=self.port, user=SUPERUSER, dbname="postgres",
                                 connect_timeout=1) as conn:
                return conn.execute("SHOW data_directory").fetchone()[0] == str(self.data_dir)
        except psycopg.Error:
            return False

    # --- helpers ---------------------------------------------------------------------------------------

    def _own_dir(self) -> None:
        if os.geteuid() == 0:
            user = _server_user()
            os.chown(self.dir, user.pw_uid, user.pw_gid)

    def _create_database(self) -> None:
        with psycopg.connect(host=HOST, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def _run(self, tool: str, *args) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(self.bindir / tool), *map(str, args)], check=False, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            **self.popen_options(),
        )
        if result.returncode != 0:
            raise PostgresCommandFailed(f"{tool} {' '.join(map(str, args))} failed ({result.returncode}):\n"
                                        f"{result.stdout}")
        return result


def _as_server_user() -> dict:
    """PostgreSQL refuses to run as root: as root, its processes run as the `postgres` user."""
    if os.geteuid() != 0:
        return {}
    user = _server_user()
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresNotFound(
            "Running as root, PostgreSQL must run as an unprivileged user, but there is no `postgres` user "
            "(Debian's postgresql package creates it)"
        ) from None
