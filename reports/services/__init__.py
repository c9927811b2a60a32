"""Requesting and generating documents (writes: report rows, stored files, audit events).

- ``requests``: asking for one report (``report_request``) or a batch (``report_batch_create``),
  watching and re-sending a batch; ``ReportError``. Reports are queued by task name once the
  transaction commits.
- ``generation``: ``report_generate``, the task's one call: figures, checkpoint, verification
  code, PDF, stored file and audit event in one transaction on the report's locked row.
- ``checkpoints``: which audit checkpoint a document is built on (``report_checkpoint``), and
  whether its period is closed.
- ``codes``: the verification code of a document's figures, and checking a printed code against
  the books (``report_verify_code``).
- ``downloads``: recording who downloaded a document (``report_downloaded``).

Modules import one another one way: generation -> requests, codes, checkpoints; requests ->
checkpoints. None imports this package or ``reports.tasks`` (tasks are queued by name).
"""

from reports.services.checkpoints import report_checkpoint
from reports.services.codes import report_verify_code
from reports.services.downloads import report_downloaded
from reports.services.generation import report_generate
from reports.services.requests import (
    batch_progress,
    batch_requeue,
    report_batch_create,
    report_request,
)

__all__ = [
    "batch_progress",
    "batch_requeue",
    "report_batch_create",
    "report_checkpoint",
    "report_downloaded",
    "report_generate",
    "report_request",
    "report_verify_code",
]
