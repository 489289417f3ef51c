"""Every benchmark at full size, against TorchGeo: ``python benchmarks/run_all.py``.

Same as ``eossl bench all``; any ``eossl bench`` option may follow (``--quick``,
``--workers 0,2``, ``--rounds 3``, ``--vs none``...). Fixtures are written once
into ``<eossl cache>/bench`` (about 2.5 GB at full size) and reused.
"""

import sys

from eossl.bench import main

if __name__ == "__main__":
    main(["all", *sys.argv[1:]])
