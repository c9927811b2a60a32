"""Reports are stored through Django's storage API: each test stores them in its own folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: pytest.FixtureRequest, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _forget_batches() -> None:
    """Workers remember each batch's checkpoint (batches never change and their ids are never
    reused once committed); tests roll back, and SQLite then hands the same ids out again."""
    from reports.services.generation import batch_checkpoint

    batch_checkpoint.cache_clear()
