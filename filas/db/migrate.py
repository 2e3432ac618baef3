"""Apply the Alembic migrations: `filas-migrate` (an init container in Kubernetes, a step of `make run`)."""

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

from filas.settings import get_settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def main() -> None:
    logging.basicConfig(level=get_settings().log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    upgrade(get_settings().database_url)
    logging.getLogger("filas.migrate").info("database is at the latest migration")
