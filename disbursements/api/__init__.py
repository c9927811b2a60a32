"""The disbursements app's API resources (``/api/v1/``): thin views over its services and selectors, on
``trust.access`` and the common parts in ``trust.api``."""
