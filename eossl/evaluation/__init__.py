"""Evaluating weights downstream: ``eossl evaluate``.

- :mod:`.evaluate`: scene classification and segmentation on a benchmark or a store
  (kNN, linear probe, fine-tuning) against random init and band statistics;
- :mod:`.change`: change detection on two-date pairs (OSCD): frozen probe against change
  vector analysis, and TorchGeo's ``ChangeDetectionTask`` fine-tuned against random init;
- :mod:`.probes`: the frozen-feature probes, folds and bootstrap intervals;
- :mod:`.finetune`: fine-tuning through TorchGeo's tasks;
- :mod:`.results`: the result tables and JSON; :mod:`.plots`: their figures.
"""
