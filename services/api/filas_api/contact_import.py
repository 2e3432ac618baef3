"""A campaign's contacts in bulk: a CSV file (contacts_csv.py) imported into the campaign.

The good rows go in, in one transaction; each bad row is reported with its line and why: the file's own
problems (contacts_csv.py), a number already in the campaign, or one that opted out (not stored again)."""

import logging

from flask import Blueprint, jsonify, request
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from filas.db.models import Campaign, CampaignStatus, Contact, WhatsappStatus
from filas.db.session import session_scope
from filas.opt_outs import opted_out_among
from filas.settings import get_settings
from filas_api.campaign_records import NAME_FIELD, load_campaign, refuse_if_busy
from filas_api.contacts_csv import ContactsFile, CsvRefused, read_contacts
from filas_api.envelope import ok
from filas_api.errors import ApiError

logger = logging.getLogger(__name__)

bp = Blueprint("contact_import", __name__, url_prefix="/api")

UPLOAD_FIELD = "arquivo"
CSV_MEDIA_TYPES = ("text/csv", "application/csv", "text/plain")
ALREADY_IN_CAMPAIGN = "já está na campanha"
OPTED_OUT = "pediu para não receber mensagens (opt-out)"


@bp.post("/campanhas/<db_id:campanha_id>/contatos")
def import_contacts(campanha_id: int):
    settings = get_settings()
    # A 50,000-row CSV is several MB: more than the JSON routes' FILAS_API_MAX_BODY_BYTES.
    request.max_content_length = settings.contacts_import_max_bytes
    data = _uploaded_csv()
    with session_scope() as session:
        campaign = load_campaign(session, campanha_id, for_update=True)  # one import or task start at a time
        refuse_if_busy(campaign)
        try:
            contacts = read_contacts(data, settings.contacts_import_max_rows)
        except CsvRefused as error:
            raise ApiError(400, str(error)) from None
        _refuse_without_template_fields(campaign, contacts)
        contacts = _only_new(session, campaign, contacts)
        _add(session, campaign, contacts)
    logger.info("campaign %s: %d contacts imported, %d rows rejected", campanha_id, len(contacts.rows),
                len(contacts.rejections))
    body = ok(campanha_id=campanha_id, importados=len(contacts.rows), total=contacts.total,
              rejeitados=[{"linha": r.line, "motivo": r.reason} for r in contacts.rejections])
    return jsonify(body), 201 if contacts.rows else 200


def _uploaded_csv() -> bytes:
    if request.mimetype == "multipart/form-data":
        upload = request.files.get(UPLOAD_FIELD)
        if upload is None:
            raise ApiError(400, f"envie o arquivo CSV no campo {UPLOAD_FIELD} do formulário")
        return upload.read()
    if request.mimetype in CSV_MEDIA_TYPES:
        return request.get_data(cache=False)
    raise ApiError(415, f"envie um CSV: multipart/form-data com o campo {UPLOAD_FIELD}, ou o corpo como text/csv")


def _refuse_without_template_fields(campaign: Campaign, contacts: ContactsFile) -> None:
    """The Cloud API template's parameters are contacts' fields: a file without one of them would send
    empty parameters (or have every send refused)."""
    missing = [name for name in campaign.modelo_parametros or ()
               if name != NAME_FIELD and name not in contacts.field_names]
    if missing:
        raise ApiError(400, f"o arquivo não tem a(s) coluna(s) que o modelo da campanha usa: {', '.join(missing)}")


def _only_new(session: Session, campaign: Campaign, contacts: ContactsFile) -> ContactsFile:
    """Without the numbers already in the campaign, nor those that opted out: a patient who did (or had
    their data erased) gets nothing from any campaign, and their data is not stored again."""
    in_campaign = set(session.scalars(select(Contact.telefone).where(Contact.campaign_id == campaign.id)))
    contacts = contacts.without_numbers(in_campaign, ALREADY_IN_CAMPAIGN)
    return contacts.without_numbers(opted_out_among(session, [row.telefone for row in contacts.rows]), OPTED_OUT)


def _add(session: Session, campaign: Campaign, contacts: ContactsFile) -> None:
    """Contacts start unvalidated: a validated campaign goes back to draft, so that it is validated
    again before it sends (a send reaches only validated contacts)."""
    if not contacts.rows:
        return
    session.execute(insert(Contact), [
        {"campaign_id": campaign.id, "nome": row.nome, "telefone": row.telefone, "campos": row.campos,
         "whatsapp_status": WhatsappStatus.PENDING}
        for row in contacts.rows
    ])
    if campaign.status == CampaignStatus.VALIDATED:
        campaign.status = CampaignStatus.DRAFT
