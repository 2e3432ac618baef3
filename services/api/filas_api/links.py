from flask import current_app, url_for


def absolute_url(endpoint: str, **values) -> str:
    """A link the front end can follow; FILAS_PUBLIC_URL wins over the request's host (behind proxies)."""
    public = current_app.config["PUBLIC_URL"]
    if public:
        return public.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)
