"""Downloads through the API. A download answers with the file itself (a ``FileResponse``, never
rendered), whatever the client's ``Accept`` says (``application/pdf``, ``*/*``); a refusal on the
way is a problem document as everywhere else. So its content negotiation ignores the header
instead of refusing a client that asks for the file's type with 406."""

from __future__ import annotations

from typing import Any

from rest_framework.negotiation import BaseContentNegotiation


class FileDownload(BaseContentNegotiation):
    def select_parser(self, request: Any, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Any, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type
