"""Contacts CSV files as spreadsheets and people write them (filas_api.contacts_csv), without a database."""

import pytest

from filas_api.contacts_csv import CsvRefused, field_name, read_contacts


def people(data: bytes) -> list[tuple[str, str, dict]]:
    return [(row.nome, row.telefone, row.campos) for row in read_contacts(data, 100).rows]


@pytest.mark.parametrize("header, expected", [
    (" Nome ", "nome"), ("TELEFONE", "telefone"), ("Telefône", "telefone"), ("Data da Consulta", "data_da_consulta"),
    ("data-consulta", "data_consulta"), ("Nº do Prontuário", "no_do_prontuario"), ("???", ""),
])
def test_header_names_ignore_case_accents_and_spacing(header, expected):
    assert field_name(header) == expected


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1"])
def test_brazilian_text_in_every_usual_encoding(encoding):
    data = "Nome;Telefone;Unidade\nJoão Conceição;(85) 99999-0001;Posto São José\n".encode(encoding)

    assert people(data) == [("João Conceição", "5585999990001", {"unidade": "Posto São José"})]


def test_windows_1252_punctuation_and_bytes_it_lacks():
    assert people("nome;telefone;obs\nD’Ávila;85999990001;“ok” – sim\n".encode("cp1252"))[0][0] == "D’Ávila"
    assert people(b"nome;telefone\nA\x81B;85999990001\n")[0][0] == "A\x81B"  # latin-1: undefined in cp1252


@pytest.mark.parametrize("data", [
    b"nome,telefone\nMaria,85999990001\n",
    b"nome;telefone\r\nMaria;85999990001\r\n",
    b"nome\ttelefone\nMaria\t85999990001\n",
    b"sep=,\nnome,telefone\nMaria,85999990001\n",  # Excel's delimiter hint
    b"telefone;nome;\nMaria-is-not-a-phone;x\n85999990001;Maria;\n",  # any column order, a trailing ';'
])
def test_delimiters_line_endings_and_column_order(data):
    rows = people(data)
    assert rows[-1] == ("Maria", "5585999990001", {})


def test_semicolons_in_a_comma_file_and_commas_in_a_semicolon_file_stay_in_their_cell():
    assert people(b"nome,telefone,endereco\nMaria,85999990001,Rua A; 10\n")[0][2] == {"endereco": "Rua A; 10"}
    assert people(b"nome;telefone;endereco\nMaria;85999990001;Rua A, 10\n")[0][2] == {"endereco": "Rua A, 10"}


def test_a_row_with_fewer_cells_gets_empty_fields():
    assert people(b"nome;telefone;data;unidade\nMaria;85999990001\n") == [
        ("Maria", "5585999990001", {"data": "", "unidade": ""})]


def test_a_field_value_too_long_is_a_rejected_row():
    contacts = read_contacts(b"nome;telefone;obs\nMaria;85999990001;" + b"x" * 1001 + b"\n", 100)

    assert [(r.line, r.reason) for r in contacts.rejections] == [
        (2, "obs longo demais (1001 caracteres; o máximo é 1000)")]


def test_blank_rows_do_not_count_towards_the_limit():
    data = b"nome;telefone\n" + b";;\n\n" * 10 + b"A;85999990001\nB;85999990002\n"

    assert read_contacts(data, 2).total == 2
    with pytest.raises(CsvRefused, match="limite de 1 contatos"):
        read_contacts(data, 1)
