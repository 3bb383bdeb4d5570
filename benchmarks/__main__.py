"""``python -m benchmarks``: run every ``bench_*.py`` in this folder, one after another."""

import pathlib
import runpy
import sys

if __name__ == "__main__":
    here = pathlib.Path(__file__).parent
    for script in sorted(here.glob("bench_*.py")):
        print(f"=== {script.name}", flush=True)
        sys.argv = [str(script)]
        runpy.run_path(str(script), run_name="__main__")
