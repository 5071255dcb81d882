"""The offline model files: where each comes from and how it is fetched and verified.

See :mod:`trendscope.models.fetch` (kept out of this ``__init__`` so that
``python -m trendscope.models.fetch`` runs without a double-import warning).
"""
