"""The disbursements app's pages, one module per concept: ``requests`` (children and their funds,
requests, documents), ``partners`` and ``policy``. ``urls.py`` names them."""
