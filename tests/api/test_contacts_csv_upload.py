"""POST /api/campanhas/<id>/contatos: contacts in bulk from a CSV as spreadsheets save it in Brazil, on the
real PostgreSQL: the good rows go in, each bad row is reported with its line and reason."""

import io

from sqlalchemy import select

from filas.db.models import Campaign, CampaignStatus, Contact
from filas.db.session import session_scope

AUTH = {"Authorization": "Bearer test-token"}  # accepted by the `client` fixture


def new_campaign(client, **extra) -> int:
    reply = client.post("/api/campanhas", json={"nome": "Busca ativa", "mensagem": "Olá, {nome}!", **extra},
                        headers=AUTH)
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()["campanha"]["id"]


def upload(client, campaign_id: int, content: bytes, filename: str = "contatos.csv"):
    return client.post(f"/api/campanhas/{campaign_id}/contatos", headers=AUTH, content_type="multipart/form-data",
                       data={"arquivo": (io.BytesIO(content), filename)})


def post_raw(client, campaign_id: int, content: bytes, content_type: str = "text/csv"):
    return client.post(f"/api/campanhas/{campaign_id}/contatos", headers=AUTH, data=content,
                       content_type=content_type)


def stored(campaign_id: int) -> list[tuple[str, str, dict | None, str]]:
    with session_scope() as session:
        return [(c.nome, c.telefone, c.campos, c.whatsapp_status) for c in session.scalars(
            select(Contact).where(Contact.campaign_id == campaign_id).order_by(Contact.id))]


def test_an_excel_csv_imports_its_good_rows_and_reports_each_bad_one(client):
    campaign_id = new_campaign(client)
    rows = [
        "Nome;Telefone;Data da Consulta;Unidade",  # line 1
        "Maria Souza;(85) 9999-0001;01/12/2026;UBS Centro",  # an old 8-digit mobile
        "José Araújo;+55 85 98888-0002;02/12/2026;UBS Aldeota",
        ";(85) 97777-0003;03/12/2026;UBS Centro",  # no name
        "Ana Lima;123;04/12/2026;UBS Centro",  # not a phone
        "Maria de Novo;85 99999-0001;05/12/2026;UBS Centro",  # line 2's number, with its ninth digit
        ";;;",  # a blank row: skipped, not counted
        "Consultório;(85) 3333-4444;06/12/2026;Clínica",  # a landline
        f"{'N' * 201};(85) 96666-0005;07/12/2026;UBS Centro",
        "Silva, Bia;(85) 95555-0006;08/12/2026;UBS Centro;sobrou",  # one cell more than the header
    ]
    content = "\r\n".join(rows).encode("cp1252")  # Excel's "CSV (separado por vírgulas)"

    reply = upload(client, campaign_id, content)

    assert reply.status_code == 201, reply.get_json()
    body = reply.get_json()
    assert (body["sucesso"], body["importados"], body["total"]) == (True, 3, 8)
    assert body["rejeitados"] == [
        {"linha": 4, "motivo": "nome ausente"},
        {"linha": 5, "motivo": "telefone inválido: faltam dígitos: informe DDD e número, ex.: (85) 99999-0001"},
        {"linha": 6, "motivo": "telefone repetido: o mesmo da linha 2"},
        {"linha": 9, "motivo": "nome longo demais (201 caracteres; o máximo é 200)"},
        {"linha": 10, "motivo": "a linha tem 5 colunas e o cabeçalho 4: um valor com ';' deve estar entre aspas"},
    ]
    assert stored(campaign_id) == [
        ("Maria Souza", "5585999990001", {"data_da_consulta": "01/12/2026", "unidade": "UBS Centro"}, "pendente"),
        ("José Araújo", "5585988880002", {"data_da_consulta": "02/12/2026", "unidade": "UBS Aldeota"}, "pendente"),
        ("Consultório", "558533334444", {"data_da_consulta": "06/12/2026", "unidade": "Clínica"}, "pendente"),
    ]
    view = client.get(f"/api/campanhas/{campaign_id}", headers=AUTH).get_json()["campanha"]
    assert view["contatos"] == 3 and view["whatsapp"]["pendentes"] == 3
    assert view["campos"] == ["nome", "data_da_consulta", "unidade"]


def test_a_raw_utf8_body_with_bom_and_commas_and_quoted_cells(client):
    campaign_id = new_campaign(client)
    content = '\ufeff NOME ,TELEFONE,Observação\n"Souza, Maria","(85) 99999-0001","linha 1\nlinha 2"\n'.encode()

    reply = post_raw(client, campaign_id, content)

    assert reply.status_code == 201, reply.get_json()
    assert reply.get_json()["importados"] == 1
    assert stored(campaign_id) == [("Souza, Maria", "5585999990001", {"observacao": "linha 1\nlinha 2"}, "pendente")]


def test_a_line_number_counts_the_lines_of_a_quoted_cell_that_spans_them(client):
    campaign_id = new_campaign(client)
    content = b'nome;telefone;obs\nAna;85999990001;"a\nb\nc"\nBia;12;x\n'

    reply = post_raw(client, campaign_id, content)

    assert reply.get_json()["rejeitados"] == [
        {"linha": 5, "motivo": "telefone inválido: faltam dígitos: informe DDD e número, ex.: (85) 99999-0001"}]


def test_numbers_already_in_the_campaign_are_reported_in_either_ninth_digit_form(client):
    campaign_id = new_campaign(client)
    assert upload(client, campaign_id, b"nome;telefone\nMaria;(85) 99999-0001\n").status_code == 201

    reply = upload(client, campaign_id, b"nome;telefone\nMaria;(85) 9999-0001\nJoana;(85) 98888-0002\n")

    assert reply.status_code == 201
    assert reply.get_json()["rejeitados"] == [{"linha": 2, "motivo": "já está na campanha"}]
    assert [telefone for _, telefone, _, _ in stored(campaign_id)] == ["5585999990001", "5585988880002"]

    again = upload(client, campaign_id, b"nome;telefone\nJoana;85988880002\n")
    assert again.status_code == 200  # nothing imported: not an error, nothing created
    assert again.get_json()["importados"] == 0 and again.get_json()["total"] == 1


def test_files_that_are_not_contacts_are_refused_whole(client):
    campaign_id = new_campaign(client)
    cases = {
        b"": "vazio",
        b"   \r\n": "vazio",
        b"nome;telefone\r\n": "só o cabeçalho",
        b"Nome;Celular\nMaria;(85) 99999-0001\n": "encontradas: Nome, Celular",
        b"Maria;(85) 99999-0001\n": "a primeira linha deve ser o cabeçalho",
        b"nome;telefone;Nome\nA;85999990001;B\n": "a coluna nome aparece duas vezes",
        "nome;telefone\nA;85999990001\n".encode("utf-16"): "não é um CSV de texto",
    }
    for content, reason in cases.items():
        reply = upload(client, campaign_id, content)
        assert reply.status_code == 400, (content, reply.get_json())
        assert reply.get_json()["sucesso"] is False and reason in reply.get_json()["erro"], (content, reply.get_json())
    assert stored(campaign_id) == []


def test_a_file_over_the_row_limit_is_refused_naming_the_limit(client, configure):
    configure(FILAS_CONTACTS_IMPORT_MAX_ROWS="2")
    campaign_id = new_campaign(client)
    content = b"nome;telefone\nA;85999990001\nB;85999990002\n\nC;85999990003\n"

    reply = upload(client, campaign_id, content)

    assert reply.status_code == 400
    assert "limite de 2 contatos" in reply.get_json()["erro"]
    assert "FILAS_CONTACTS_IMPORT_MAX_ROWS" in reply.get_json()["erro"]
    assert stored(campaign_id) == []
    assert upload(client, campaign_id, content.replace(b"C;85999990003\n", b"")).status_code == 201


def test_fifty_thousand_rows_fit_though_larger_than_the_json_body_limit(client):
    campaign_id = new_campaign(client)
    lines = ["nome;telefone;data_consulta"] + [f"Paciente {i};(85) 98{i:07d};01/12/2026" for i in range(50_000)]
    content = "\n".join(lines).encode()
    assert len(content) > 1_048_576  # FILAS_API_MAX_BODY_BYTES's default

    reply = upload(client, campaign_id, content)

    assert reply.status_code == 201, reply.get_json()
    assert (reply.get_json()["importados"], reply.get_json()["rejeitados"]) == (50_000, [])
    assert client.get(f"/api/campanhas/{campaign_id}", headers=AUTH).get_json()["campanha"]["contatos"] == 50_000


def test_a_file_over_the_byte_limit_is_a_413_naming_it(client, configure):
    configure(FILAS_CONTACTS_IMPORT_MAX_BYTES="1000")
    campaign_id = new_campaign(client)
    content = ("nome;telefone\n" + "".join(f"P{i};(85) 98{i:07d}\n" for i in range(100))).encode()

    for reply in (upload(client, campaign_id, content), post_raw(client, campaign_id, content)):
        assert reply.status_code == 413
        assert "1000 bytes" in reply.get_json()["erro"]
    assert stored(campaign_id) == []


def test_a_campaign_validating_or_sending_takes_no_contacts(client):
    campaign_id = new_campaign(client)
    assert upload(client, campaign_id, b"nome;telefone\nA;85999990001\n").status_code == 201
    assert client.post(f"/api/campanhas/{campaign_id}/validar", headers=AUTH).status_code == 202

    reply = upload(client, campaign_id, b"nome;telefone\nB;85999990002\n")

    assert reply.status_code == 409
    assert "validando" in reply.get_json()["erro"]
    assert len(stored(campaign_id)) == 1


def test_a_validated_campaign_must_be_validated_again_after_new_contacts(client):
    campaign_id = new_campaign(client)
    with session_scope() as session:
        session.get(Campaign, campaign_id).status = CampaignStatus.VALIDATED

    assert upload(client, campaign_id, b"nome;telefone\nA;85999990001\n").status_code == 201

    assert client.get(f"/api/campanhas/{campaign_id}", headers=AUTH).get_json()["campanha"]["status"] == "rascunho"
    assert "valide" in client.post(f"/api/campanhas/{campaign_id}/enviar", headers=AUTH).get_json()["erro"]


def test_a_file_without_the_columns_of_the_campaigns_template_is_refused(client):
    campaign_id = new_campaign(client, modelo={"nome": "lembrete", "parametros": ["nome", "Data da Consulta"]})

    refused = upload(client, campaign_id, b"nome;telefone\nA;85999990001\n")
    accepted = upload(client, campaign_id, b"nome;telefone;data da consulta\nA;85999990001;01/12\n")

    assert refused.status_code == 400 and "data_da_consulta" in refused.get_json()["erro"]
    assert accepted.status_code == 201


def test_how_the_file_is_sent_and_to_which_campaign(client):
    campaign_id = new_campaign(client)
    content = b"nome;telefone\nA;85999990001\n"

    assert upload(client, 424242, content).status_code == 404
    wrong_field = client.post(f"/api/campanhas/{campaign_id}/contatos", headers=AUTH,
                              content_type="multipart/form-data", data={"planilha": (io.BytesIO(content), "c.csv")})
    assert wrong_field.status_code == 400 and "arquivo" in wrong_field.get_json()["erro"]
    assert post_raw(client, campaign_id, b'{"nome": "A"}', "application/json").status_code == 415
    assert post_raw(client, campaign_id, content, "text/plain").status_code == 201
