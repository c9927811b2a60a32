"""The trust app's pages, one module per concept: ``trusts`` (the list, a trust's dashboard,
creating one, closing a period), ``books``, ``receipts``, ``orders``, ``people`` (defendants and
implicated people), ``beneficiaries`` and ``appointments``. ``urls.py`` names them."""
