"""``python -m benchmarks``: run every ``bench_*.py`` in this folder, each in a fresh process.

What ``make bench`` runs (pinned to one core with one thread). Each script prints its own
exact command above its tables; this runner adds the wall time of each and the total, goes on
after a script that fails, and exits non-zero if any did.
"""

import pathlib
import subprocess
import sys
import time

if __name__ == "__main__":
    here = pathlib.Path(__file__).parent
    failed, began = [], time.perf_counter()
    for script in sorted(here.glob("bench_*.py")):
        print(f"=== {script.name}", flush=True)
        start = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)])
        print(f"=== {script.name}: exit status {rc}, {time.perf_counter() - start:.0f} s wall",
              flush=True)
        if rc:
            failed.append(script.name)
    print(f"=== all benchmarks: {time.perf_counter() - began:.0f} s wall"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)
