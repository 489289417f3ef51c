"""Speed benchmarks against TorchGeo: ``benchmarks/bench.py {loader,augment,train,memory,all}``.

The same command as ``eossl bench`` (which runs this from a source checkout), with the
same options: ``--vs none``, ``--samples``, ``--rounds``, ``--workers 0,1,2``,
``--batch-size`` and ``--quick`` (a smoke run). The benchmarks are the ``speed``
package beside this script; benchmarks/README.md describes them and their results.
"""

import sys

from speed.cli import main

from eossl.errors import UserError

if __name__ == "__main__":
    try:
        main()
    except UserError as err:  # one line and exit status 2, as `eossl bench` prints it
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
