"""Every benchmark at full size, against TorchGeo: ``python benchmarks/run_all.py``.

Same as ``python benchmarks/bench.py all`` (``eossl bench all``); any of its options
may follow (``--quick``, ``--workers 0,2``, ``--rounds 3``, ``--vs none``...). Fixtures
are written once into ``<eossl cache>/bench`` (about 2.5 GB at full size) and reused.
"""

import sys

from speed.cli import main

if __name__ == "__main__":
    main(["all", *sys.argv[1:]])
