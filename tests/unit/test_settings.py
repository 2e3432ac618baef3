from pathlib import Path

from filas.settings import Settings, markdown_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_documented_table_is_current():
    assert markdown_table() in DOC.read_text(), "run `.venv/bin/python -m filas.settings` into docs/configuration.md"


def test_settings_come_from_filas_variables_and_secrets_never_print(monkeypatch):
    monkeypatch.setenv("FILAS_PORTAL_PASSWORD", "s3cr3t")
    monkeypatch.setenv("FILAS_JOB_RETENTION_SECONDS", "7200")

    settings = Settings()

    assert settings.job_retention_seconds == 7200
    assert settings.portal_password.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(settings.model_dump())
