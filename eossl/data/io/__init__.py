"""Stores in the eossl schema: the format, and reading and writing them.

- :mod:`.schema`: find, open and validate stores (the SSL4EO-S12 v1.1 layout);
- :mod:`.reader`: the hot-path reader (tensorstore, zarr-python as the fallback);
- :mod:`.codecs`: the compression choices of ``--codec``;
- :mod:`.writer`: atomic, resumable, shard-aligned writes (``StoreWriter``);
- :mod:`.attrs`: update a written store's attributes (``.zarr.zip`` included);
- :mod:`.describe`: ``eossl info``, a store summarised as a table.
"""
