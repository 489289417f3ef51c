"""Change detection on two-date pairs (OSCD), cities held out.

- :mod:`~eossl.evaluation.change.pairs`: a change store's labelled tiles and city folds;
- :mod:`~eossl.evaluation.change.probe`: the frozen probe, against change vector analysis;
- :mod:`~eossl.evaluation.change.finetune`: TorchGeo's ``ChangeDetectionTask``
  (FC-Siam-diff) from the card's weights and from random init;
- :mod:`~eossl.evaluation.change.scores`: precision, recall, F1, intervals over cities;
- :mod:`~eossl.evaluation.change.evaluate`: all of it, as ``eossl evaluate --task change``.
"""

from eossl.evaluation.change.evaluate import evaluate_change
from eossl.evaluation.change.pairs import ChangePairs, city_folds, load_pairs
from eossl.evaluation.change.probe import change_vector
from eossl.evaluation.results import CVA

__all__ = ["CVA", "ChangePairs", "change_vector", "city_folds", "evaluate_change", "load_pairs"]
