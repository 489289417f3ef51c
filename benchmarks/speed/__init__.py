"""Speed comparisons against TorchGeo: ``benchmarks/bench.py {loader,augment,train,memory,all}``.

Each benchmark builds identical inputs for both sides (:mod:`speed.inputs`), times them
alternately in one process (the order rotates every round, so drift on a shared machine
hits every side alike), prints the medians in a table and ends with one line per
comparison, ``ratio NAME: 9.10x``, for scripts (:mod:`speed.report`):

- :mod:`speed.loader`: :class:`~eossl.data.dataset.SeasonalZarrDataset` seasonal pairs
  (as the datamodule builds it for training) against TorchGeo's ``SSL4EOS12`` reading the
  same locations from its GeoTIFF layout, and against the bare decode of the same chunks
  (:mod:`speed.decode`, the limit), with each DataLoader worker count. The ratio lines
  give the worst worker count.
- :mod:`speed.augment`: the eossl MoCo recipe against TorchGeo's ``moco_augmentations``
  (v2) on the same 13-band batch and crop, in views/s.
- :mod:`speed.train`: eossl MoCo v2 against TorchGeo's ``MoCoTask`` v2 with the same
  backbone, batch, crop and data: ``training_step`` (augmentation included), backward and
  an identical SGD step, on pre-loaded batches.
- :mod:`speed.memory`: peak RSS of a loader epoch over a small and a 10x larger number of
  samples of one store, one subprocess per measurement.

Fixtures (synthetic stores, the GeoTIFF tree) are written once into ``<eossl cache>/bench``
and reused. :mod:`speed.cli` holds the full and the ``--quick`` sizes (a CI smoke test)
and the options; ``eossl bench`` runs it from a source checkout.
"""
