"""A failed booking attempt's screenshot and HTML behind the operations page's session (its cookie is
limited to /ops, so the page cannot use the API's bearer-token routes); served as the API serves them."""

from flask import abort

from filas_api.evidence import html_response, screenshot_response
from filas_api.ops.blueprint import bp


@bp.get("/evidencias/<db_id:evidencia_id>/screenshot")
def evidence_screenshot(evidencia_id: int):
    return screenshot_response(evidencia_id) or abort(404, f"Evidência {evidencia_id} sem captura de tela.")


@bp.get("/evidencias/<db_id:evidencia_id>/html")
def evidence_html(evidencia_id: int):
    return html_response(evidencia_id) or abort(404, f"Evidência {evidencia_id} sem HTML.")
