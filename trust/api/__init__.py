"""The REST API's common parts (``/api/v1/``): token authentication with a scope, problem details
(RFC 9457) for every refusal, ``Idempotency-Key`` replay, cursor pagination, throttles and the
money field. The trust app's resources, one module per concept: ``trusts`` (and appointments),
``beneficiaries``, ``ledger`` (defendants, orders, receipts, accounts, entries), ``audit`` and
``imports``; the other apps' in ``disbursements.api`` and ``reports.api``. Access is decided by
``trust.access``, as for the pages: the API adds no rule of its own."""
