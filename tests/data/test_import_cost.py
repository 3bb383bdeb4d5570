import subprocess
import sys

import pytest

HEAVY = ["matplotlib", "mlxtend", "PIL", "platformdirs", "safetensors", "scipy", "torchvision"]


@pytest.mark.slow
def test_importing_data_models_and_weights_loads_no_heavy_module():
    # a fresh interpreter: this test process has imported everything already
    code = ("import sys, landscape.data, landscape.models, landscape.weights; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
