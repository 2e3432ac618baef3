"""The operations page's blueprint; its routes live in pages.py, actions.py and login.py."""

from flask import Blueprint

bp = Blueprint("ops", __name__, url_prefix="/ops", template_folder="templates")
