"""Pages of the disbursements app: thin, they call selectors and services."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest

from disbursements.selectors import document_for


@login_required
def document_download(request: HttpRequest, uid: UUID) -> FileResponse:
    """A supporting document, to a user who may see its request; 404 to anyone else (the same
    answer as for a document that does not exist)."""
    document = document_for(request.user, uid)
    if document is None:
        raise Http404("No such document.")
    response = FileResponse(
        document.file.open("rb"),
        as_attachment=True,
        filename=f"request-{document.request_id}-{document.kind}-{document.pk}"
        f".{document.file.name.rsplit('.', 1)[-1]}",
        content_type=document.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
