"""``eossl stats``: per-band statistics of stores, out of core on dask.

- :mod:`.blocks`: the valid pixels of a store, block by block (shared with phenology);
- :mod:`.moments`: count, mean, M2, min and max per block, merged exactly;
- :mod:`.percentiles`: percentiles from integer or fixed-bin histograms;
- :mod:`.compute`: the passes over the stores, and the ``stats`` attribute;
- :mod:`.cli`: the command's arguments and its table.
"""
