"""Log in with an API token, log out."""

from flask import flash, redirect, render_template, request, url_for

from filas_api.ops.blueprint import bp
from filas_api.ops.session_auth import log_in, log_out, safe_next


@bp.get("/login")
def login():
    return render_template("ops/login.html", next=safe_next(request.args.get("next")))


@bp.post("/login")
def login_submit():
    target = safe_next(request.form.get("next"))
    if not log_in(request.form.get("token", "")):
        return render_template("ops/login.html", next=target, refused=True), 401
    return redirect(target, code=303)


@bp.post("/logout")
def logout():
    log_out()
    flash("Sessão encerrada.")
    return redirect(url_for("ops.login"), code=303)
