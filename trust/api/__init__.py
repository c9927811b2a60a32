"""The REST API's common parts (``/api/v1/``): token authentication with a scope, problem details
(RFC 9457) for every refusal, ``Idempotency-Key`` replay, cursor pagination, throttles and the
money field. The resources live beside each app's pages (``trust.api.views``,
``disbursements.api``, ``reports.api``); access is decided by ``trust.access``, as for the pages:
the API adds no rule of its own."""
