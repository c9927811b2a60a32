"""The Celery app. Tasks live in each app's ``tasks.py`` and only call services."""

import os

from celery import Celery

# Their Celery signals give each task its log line and its counts (docs/operations.md).
from config import logs, metrics  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
