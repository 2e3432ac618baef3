"""The portal credentials under the RQ guide's names, ATACADAO_USUARIO and ATACADAO_SENHA; FILAS_ names win."""

from filas.settings import Settings


def test_the_rq_guides_names_are_read(monkeypatch):
    monkeypatch.setenv("ATACADAO_USUARIO", "fornecedor")
    monkeypatch.setenv("ATACADAO_SENHA", "s3cr3t")

    settings = Settings()

    assert (settings.portal_username, settings.portal_password.get_secret_value()) == ("fornecedor", "s3cr3t")
    assert "s3cr3t" not in repr(settings)


def test_the_filas_names_win(monkeypatch):
    monkeypatch.setenv("ATACADAO_USUARIO", "antigo")
    monkeypatch.setenv("FILAS_PORTAL_USERNAME", "novo")

    assert Settings().portal_username == "novo"
