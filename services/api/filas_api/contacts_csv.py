"""A campaign's contacts read from a CSV file as spreadsheets save it in Brazil.

UTF-8 (with or without BOM), else Windows-1252 / Latin-1 (Excel's "CSV (separado por vírgulas)");
';' or ',' (or tab) between cells; a header row naming `nome` and `telefone` (case, accents and spacing
ignored); other columns become the contact's template fields. A whole file is refused (CsvRefused) when
it cannot be read as contacts at all; otherwise each bad row is reported with its line and the reason."""

import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from filas.phones import InvalidPhone, normalize_br, with_ninth_digit

NAME, PHONE = "nome", "telefone"
MAX_NAME = 200  # Contact.nome
MAX_PHONE = 40  # as typed, like the JSON API's telefone
MAX_FIELD = 1000  # a template field's value (the Cloud API takes about that much per body parameter)
DELIMITERS = (";", ",", "\t")


class CsvRefused(ValueError):
    """The file as a whole is not a contacts CSV; the message says why, for the user."""


@dataclass(frozen=True)
class ContactRow:
    line: int
    nome: str
    telefone: str  # E.164 digits (filas.phones.normalize_br)
    campos: dict[str, str]


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str


@dataclass
class ContactsFile:
    field_names: list[str]  # the template fields' columns, in the file's order
    rows: list[ContactRow] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.rows) + len(self.rejections)

    def without_numbers(self, numbers: set[str], reason: str) -> "ContactsFile":
        """The rows whose number is in `numbers` (either form of the ninth digit) turned into rejections."""
        known = {with_ninth_digit(number) for number in numbers}
        kept = [row for row in self.rows if row.telefone not in known]
        refused = [Rejection(row.line, reason) for row in self.rows if row.telefone in known]
        return ContactsFile(self.field_names, kept, sorted(self.rejections + refused, key=lambda r: r.line))


def field_name(header: str) -> str:
    """' Nome ' → 'nome'; 'TELEFONE' → 'telefone'; 'Data da Consulta' → 'data_da_consulta' (what a
    template names it by: {data_da_consulta})."""
    ascii_only = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
    return re.sub(r"[^0-9a-z]+", "_", ascii_only.lower()).strip("_")


def read_contacts(data: bytes, max_rows: int) -> ContactsFile:
    text = decode(data)
    delimiter, lines_before_header = _find_header(text)
    records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for _ in range(lines_before_header):
        next(records)
    columns = _columns(next(records, []))
    contacts = ContactsFile(field_names=[name for name in columns.values() if name not in (NAME, PHONE)])
    seen: dict[str, int] = {}  # number → the line that brought it
    for line, cells in _data_rows(records):
        if contacts.total >= max_rows:
            raise CsvRefused(f"o arquivo passa do limite de {max_rows} contatos por envio "
                             "(FILAS_CONTACTS_IMPORT_MAX_ROWS); divida-o em arquivos menores")
        outcome = _read_row(line, cells, columns, delimiter, seen)
        if isinstance(outcome, Rejection):
            contacts.rejections.append(outcome)
        else:
            seen[outcome.telefone] = line
            contacts.rows.append(outcome)
    if contacts.total == 0:
        raise CsvRefused("o arquivo não tem contatos: só o cabeçalho")
    return contacts


def _data_rows(records) -> Iterator[tuple[int, list[str]]]:
    """(line where the row begins, cells) of each row that is not blank (spreadsheets leave ';;;' lines)."""
    last_line = records.line_num
    for cells in records:
        line, last_line = last_line + 1, records.line_num  # a quoted cell may span lines
        if any(cell.strip() for cell in cells):
            yield line, cells


def decode(data: bytes) -> str:
    if b"\x00" in data:  # UTF-16 ("Texto Unicode" in Excel) or not text at all
        raise CsvRefused('o arquivo não é um CSV de texto: salve-o como "CSV UTF-8" ou "CSV (separado por vírgulas)"')
    text = _decoded(data)
    if not text.strip():
        raise CsvRefused("o arquivo está vazio")
    return text


def _decoded(data: bytes) -> str:
    """UTF-8 if it is (invalid UTF-8 is very unlikely to be anything else), else Windows-1252, else Latin-1
    (which decodes any byte: the five Windows-1252 leaves undefined)."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _find_header(text: str) -> tuple[str, int]:
    """(delimiter, lines before the header). Excel may write a first line 'sep=;'. Otherwise the delimiter is
    the one that splits the header into `nome` and `telefone`: more reliable than csv.Sniffer's guess from
    character frequencies, which names, dates and addresses full of commas and semicolons can fool."""
    first_line = text.split("\n", 1)[0].strip("\r ")
    if re.fullmatch(r"sep=[;,\t|]", first_line, re.IGNORECASE):
        return first_line[4], 1
    headers = {delimiter: _first_record(text, delimiter) for delimiter in DELIMITERS}
    for delimiter, cells in headers.items():
        if {NAME, PHONE} <= {field_name(cell) for cell in cells}:
            return delimiter, 0
    widest = max(headers.values(), key=len)
    found = ", ".join(cell.strip() for cell in widest if cell.strip()) or "nenhuma"
    raise CsvRefused(f"a primeira linha deve ser o cabeçalho, com as colunas {NAME} e {PHONE} "
                     f"(separadas por ';' ou ','); encontradas: {found}")


def _first_record(text: str, delimiter: str) -> list[str]:
    return next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])


def _columns(header: list[str]) -> dict[int, str]:
    """Column index → field name; columns without a name (a trailing ';') are left out."""
    columns: dict[int, str] = {}
    for index, cell in enumerate(header):
        name = field_name(cell)
        if not name:
            continue
        if name in columns.values():
            raise CsvRefused(f"a coluna {name} aparece duas vezes no cabeçalho")
        columns[index] = name
    if not {NAME, PHONE} <= set(columns.values()):
        raise CsvRefused(f"o cabeçalho deve ter as colunas {NAME} e {PHONE}")
    return columns


class _RowRefused(ValueError):
    pass


def _read_row(line: int, cells: list[str], columns: dict[int, str], delimiter: str,
              seen: dict[str, int]) -> ContactRow | Rejection:
    width = max(columns) + 1
    if any(cell.strip() for cell in cells[width:]):
        shown = "tab" if delimiter == "\t" else f"'{delimiter}'"
        return Rejection(line, f"a linha tem {len(cells)} colunas e o cabeçalho {width}: um valor com {shown} "
                               "deve estar entre aspas")
    values = {name: (cells[index].strip() if index < len(cells) else "") for index, name in columns.items()}
    try:
        nome = _checked_name(values.pop(NAME))
        telefone = _checked_phone(values.pop(PHONE))
        _check_fields(values)
    except _RowRefused as problem:
        return Rejection(line, str(problem))
    if telefone in seen:
        return Rejection(line, f"telefone repetido: o mesmo da linha {seen[telefone]}")
    return ContactRow(line=line, nome=nome, telefone=telefone, campos=values)


def _checked_name(nome: str) -> str:
    if not nome:
        raise _RowRefused("nome ausente")
    if len(nome) > MAX_NAME:
        raise _RowRefused(f"nome longo demais ({len(nome)} caracteres; o máximo é {MAX_NAME})")
    return nome


def _checked_phone(typed: str) -> str:
    if not typed:
        raise _RowRefused("telefone ausente")
    if len(typed) > MAX_PHONE:
        raise _RowRefused(f"telefone longo demais ({len(typed)} caracteres; o máximo é {MAX_PHONE})")
    try:
        return normalize_br(typed)
    except InvalidPhone as error:
        raise _RowRefused(f"telefone inválido: {error}") from None


def _check_fields(values: dict[str, str]) -> None:
    too_long = next((name for name, value in values.items() if len(value) > MAX_FIELD), None)
    if too_long:
        raise _RowRefused(f"{too_long} longo demais ({len(values[too_long])} caracteres; o máximo é {MAX_FIELD})")
