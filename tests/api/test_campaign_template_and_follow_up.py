"""POST /api/campanhas with a Cloud API template and follow-up settings, and what the campaign view shows."""

from filas.db.models import Campaign
from filas.db.session import session_scope

AUTH = {"Authorization": "Bearer test-token"}  # accepted by the `client` fixture
BASE = {"nome": "Busca ativa", "mensagem": "Olá, {nome}!", "mensagem_follow_up": "Ainda podemos ajudar, {nome}?"}


def create(client, **extra):
    return client.post("/api/campanhas", json={**BASE, **extra}, headers=AUTH)


def test_the_template_and_follow_up_are_kept_and_shown(client):
    reply = create(client, contatos=[{"nome": "Maria", "telefone": "(85) 99999-0001"}],
                   modelo={"nome": "lembrete_consulta", "idioma": "pt_BR", "parametros": ["nome", "Data da Consulta"]},
                   follow_up={"apos_dias": 3, "maximo": 2})

    assert reply.status_code == 201, reply.get_json()
    view = reply.get_json()["campanha"]
    assert view["modelo"] == {"nome": "lembrete_consulta", "idioma": "pt_BR",
                              "parametros": ["nome", "data_da_consulta"]}
    assert view["follow_up"] == {"ativo": True, "apos_dias": 3, "maximo": 2}
    assert view["campos"] == ["nome"]
    with session_scope() as session:
        campaign = session.get(Campaign, view["id"])
        assert (campaign.modelo_parametros, campaign.follow_up_dias, campaign.follow_up_max) == (
            ["nome", "data_da_consulta"], 3, 2)
    assert client.get(f"/api/campanhas/{view['id']}", headers=AUTH).get_json()["campanha"] == view


def test_without_them_the_view_shows_the_service_defaults(client, configure):
    configure(FILAS_FOLLOW_UP_AFTER_DAYS="2", FILAS_FOLLOW_UP_MAX="4", FILAS_META_TEMPLATE_LANGUAGE="pt_BR")

    plain = create(client).get_json()["campanha"]  # no contacts yet: they may come in a CSV
    partly = create(client, modelo={"nome": "aviso"}, follow_up={"maximo": 0}).get_json()["campanha"]
    no_follow_up = client.post("/api/campanhas", json={"nome": "x", "mensagem": "y"}, headers=AUTH).get_json()

    assert plain["contatos"] == 0 and plain["modelo"] is None
    assert plain["follow_up"] == {"ativo": True, "apos_dias": 2, "maximo": 4}
    assert partly["modelo"] == {"nome": "aviso", "idioma": "pt_BR", "parametros": []}
    assert partly["follow_up"] == {"ativo": True, "apos_dias": 2, "maximo": 0}
    assert no_follow_up["campanha"]["follow_up"]["ativo"] is False


def test_bad_template_or_follow_up_settings_are_a_400_naming_the_field(client):
    cases = [
        ({"follow_up": {"apos_dias": 0}}, "follow_up.apos_dias"),
        ({"follow_up": {"maximo": -1}}, "follow_up.maximo"),
        ({"follow_up": {"depois": 2}}, "follow_up.depois"),
        ({"modelo": {"parametros": ["nome"]}}, "modelo.nome"),
        ({"modelo": {"nome": "aviso", "parametros": ["nome", "???"]}}, "modelo.parametros.1"),
    ]
    for extra, field in cases:
        reply = create(client, **extra)
        assert reply.status_code == 400, extra
        assert field in [problem["campo"] for problem in reply.get_json()["erros"]], reply.get_json()
