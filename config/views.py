"""The site's handler of an uncaught error (``handler500`` in ``config/urls.py``)."""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse
from django.views import defaults

from config.middleware import database_unavailable_response
from trust.db_faults import database_unavailable


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 page, except when the error is the database being away: then 503 with
    ``Retry-After`` (``config.middleware.database_unavailable_response``). This catches the faults
    raised outside a view, where the middleware cannot: loading the session or the user, saving
    the session."""
    exc = sys.exc_info()[1]
    if exc is not None and database_unavailable(exc):
        return database_unavailable_response(request, exc)
    return defaults.server_error(request)
