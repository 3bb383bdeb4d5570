import hashlib
import json

import pytest
import torch
from torch import nn

from landscape.models import build_model, create_model, parse_model_spec

MODEL_PY = '''
import torch
from torch import nn
from helpers import WIDTH  # a neighbour module: the file's folder is importable


class Net(nn.Module):
    def __init__(self, num_classes=3, act="relu"):
        super().__init__()
        self.fc = nn.Linear(4, WIDTH)
        self.act = nn.ReLU() if act == "relu" else nn.Tanh()
        self.out = nn.Linear(WIDTH, num_classes)

    def forward(self, x):
        return self.out(self.act(self.fc(x.flatten(1))))


def make(num_classes=3, act="relu"):
    return Net(num_classes, act)


def broken(**kw):
    raise RuntimeError("no GPU here")


def not_a_model():
    return {"fc.weight": torch.zeros(2)}

CONSTANT = 3
'''


@pytest.fixture
def model_py(tmp_path):
    (tmp_path / "helpers.py").write_text("WIDTH = 5\n")
    path = tmp_path / "model.py"
    path.write_text(MODEL_PY)
    return path


def test_spec_forms_are_told_apart():
    assert parse_model_spec("mlp").kind == "registry"
    assert parse_model_spec("torchvision:resnet18").name == "resnet18"
    spec = parse_model_spec("nets/m.py:make")
    assert (spec.kind, spec.name, str(spec.path)) == ("file", "make", "nets/m.py")
    with pytest.raises(ValueError, match=r"is not PATH\.py:FACTORY.*model\.py:make_model"):
        parse_model_spec("nets/m.py")
    with pytest.raises(ValueError, match="torchvision:resnet18"):
        parse_model_spec("torchvision:")


def test_registry_definition_is_canonical_and_json():
    m1, d1 = build_model("mlp", input_shape=(1, 2, 2), num_classes=3)
    _, d2 = build_model("mlp", input_shape=[1, 2, 2], num_classes=3, widths="1000", seed=4)
    assert d1 == d2 == json.loads(json.dumps(d1))
    assert d1 == {"kind": "registry", "name": "mlp", "options": {
        "activation": "relu", "batchnorm": False, "input_shape": [1, 2, 2], "num_classes": 3,
        "widths": [1000]}}
    assert str(m1) == str(create_model("mlp", input_shape=(1, 2, 2), num_classes=3))
    _, d3 = build_model("mlp", input_shape=(1, 2, 2), num_classes=3, activation="tanh")
    assert d3 != d1


def test_unknown_registry_name_points_at_the_other_forms():
    with pytest.raises(ValueError, match=r"unknown model 'resnet34' \(torchvision's is "
                                         r"torchvision:resnet34\).*lenet5.*PATH\.py:FACTORY"):
        build_model("resnet34")


def test_torchvision_model_without_fetching_weights():
    model, d = build_model("torchvision:resnet18", num_classes=10, seed=0)
    import torchvision

    assert d == {"kind": "torchvision", "name": "resnet18", "options": {"num_classes": 10},
                 "torchvision": torchvision.__version__}
    assert model.fc.out_features == 10
    with torch.no_grad():
        assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    again, _ = build_model("torchvision:resnet18", num_classes=10, seed=0)
    assert torch.equal(model.conv1.weight, again.conv1.weight)  # exact: same seeded draw


def test_torchvision_errors_name_the_model():
    with pytest.raises(ValueError, match=r"no classification model 'resnet81'; did you mean "
                                         r"resnet18"):
        build_model("torchvision:resnet81")
    with pytest.raises(ValueError, match=r"'torchvision:resnet18': option weights is not "
                                         r"accepted: no weights are fetched"):
        build_model("torchvision:resnet18", weights="DEFAULT")
    with pytest.raises(ValueError, match=r"'torchvision:resnet18': torchvision\.models\.get_model"
                                         r".*colour.*num_classes=10"):
        build_model("torchvision:resnet18", colour="red")
    with pytest.raises(ValueError, match=r"option norm_layer=.* is not a plain value"):
        build_model("torchvision:resnet18", norm_layer=nn.Identity)


def test_model_file_runs_the_factory(model_py):
    model, d = build_model(f"{model_py}:make", num_classes=4, act="tanh", seed=1)
    assert isinstance(model.act, nn.Tanh) and model.out.out_features == 4
    assert d == {"kind": "file", "path": str(model_py.resolve()),
                 "sha256": hashlib.sha256(model_py.read_bytes()).hexdigest(),
                 "factory": "make", "options": {"act": "tanh", "num_classes": 4}}
    by_class, d_class = build_model(f"{model_py}:Net", num_classes=4, act="tanh", seed=1)
    assert d_class["factory"] == "Net" and d_class != d
    assert torch.equal(by_class.fc.weight, model.fc.weight)  # exact: same seeded draw
    model_py.write_text(MODEL_PY + "\n# edited\n")
    assert build_model(f"{model_py}:make", num_classes=4, act="tanh")[1]["sha256"] != d["sha256"]


def test_model_file_errors(model_py, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model file '.*nope\.py' does not exist"):
        build_model(f"{tmp_path}/nope.py:make")
    with pytest.raises(ValueError, match=r"defines no 'make_net'; it defines \['Net', 'broken', "
                                         r"'make', 'not_a_model'\]"):
        build_model(f"{model_py}:make_net")
    with pytest.raises(TypeError, match=r"'CONSTANT' .* is a int, not a function"):
        build_model(f"{model_py}:CONSTANT")
    with pytest.raises(RuntimeError, match=r"model factory .*model\.py:broken raised "
                                           r"RuntimeError: no GPU here") as info:
        build_model(f"{model_py}:broken")
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(TypeError, match=r"returned a dict, not a torch\.nn\.Module"):
        build_model(f"{model_py}:not_a_model")
    with pytest.raises(ValueError, match=r"model factory .*:make has no option\(s\) \['depth'\]; "
                                         r"its options are \['num_classes', 'act'\]"):
        build_model(f"{model_py}:make", depth=3)
    (tmp_path / "pkg.py").mkdir()
    with pytest.raises(ValueError, match=r"model file '.*pkg\.py' is a directory"):
        build_model(f"{tmp_path}/pkg.py:make")
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nraise ImportError('needs timm')\n")
    with pytest.raises(RuntimeError, match=r"running model file .*bad\.py' failed: ImportError: "
                                           r"needs timm"):
        build_model(f"{bad}:make")
    bad.write_text("def make(:\n")
    with pytest.raises(RuntimeError, match=r"failed: SyntaxError"):
        build_model(f"{bad}:make")
