import inspect
import typing
from collections.abc import Sequence

import numpy as np
import pytest

from landscape.commands._cliutil import parse_kv
from landscape.models import create_model, list_models, model_entry
from landscape.models._options import canonical_options, check_value
from landscape.models.mlp import _ACTIVATIONS

# what each declared type is called in the message, and a value that does not fit it
EXPECTED = {
    bool: ("a boolean", "abc"),
    int: ("an integer", "abc"),
    float: ("a number", "abc"),
    str: ("a string", [1, 2]),
    Sequence[int]: ("a list of integers", "abc"),
}


def _options(name):
    build = model_entry(name).build
    hints = typing.get_type_hints(build)
    params = inspect.signature(build).parameters
    return [(o, hints[o]) for o in params if o not in ("num_classes", "input_shape")]


CASES = [(name, opt, hint) for name in list_models() for opt, hint in _options(name)]


def test_every_registry_model_with_options_is_covered():
    assert {c[0] for c in CASES} >= {"mlp", "basicnet", "vgg16", "vgg16_bn", "wrn"}


@pytest.mark.parametrize(("name", "option", "hint"), CASES,
                         ids=[f"{n}-{o}" for n, o, _ in CASES])
def test_a_wrong_type_names_model_option_and_expected_type(name, option, hint):
    if typing.get_origin(hint) is typing.Literal:
        words, bad = f"one of {list(typing.get_args(hint))}", "abc"
    else:
        words, bad = EXPECTED[hint]
    with pytest.raises(ValueError, match=rf"^model '{name}': option {option}={bad!r} is not "
                                         rf"{words} \(e\.g\. {option}=\S+\)$".replace("[", r"\[")):
        create_model(name, input_shape=(3, 32, 32), **{option: bad})


@pytest.mark.parametrize("name", list_models())
def test_every_default_passes_its_own_check(name):
    # a default that its own type hint rejects would make canonical definitions fail
    options = canonical_options(name, model_entry(name).build, {})
    assert set(options) == {o for o, _ in _options(name)}


def test_the_command_line_spelling_gets_the_clear_message():
    with pytest.raises(ValueError, match=r"^model 'mlp': option widths='abc' is not a list of "
                                         r"integers \(e\.g\. widths=300,100\)$"):
        create_model("mlp", **parse_kv(["widths=abc"]))
    with pytest.raises(ValueError, match=r"model 'wrn': option depth=2\.5 is not an integer "
                                         r"\(e\.g\. depth=28\)"):
        create_model("wrn", input_shape=(3, 32, 32), **parse_kv(["depth=2.5"]))
    with pytest.raises(ValueError, match=r"model 'mlp': option input_shape='a' is not a list of "
                                         r"integers \(e\.g\. input_shape=1,28,28\)"):
        create_model("mlp", input_shape="a")


def test_spellings_of_one_value_are_converted():
    a = create_model("mlp", seed=0, input_shape=(1, 2, 2), **parse_kv(["widths=3x4",
                                                                        "batchnorm=1"]))
    b = create_model("mlp", seed=0, input_shape=[1, 2, 2], widths=(3, 4), batchnorm=True)
    assert str(a) == str(b)
    assert check_value("wrn", "depth", 28.0, int) == 28 and check_value("m", "w", 1, float) == 1.0
    # numpy scalars (a sweep's values) are numbers too, converted to Python's
    widths = check_value("mlp", "widths", [np.int64(3), np.int32(4)], Sequence[int])
    assert widths == [3, 4] and all(type(w) is int for w in widths)
    assert type(check_value("wrn", "depth", np.int64(10), int)) is int
    with pytest.raises(ValueError, match=r"option batchnorm=2 is not a boolean"):
        create_model("mlp", batchnorm=2)


def test_mlp_activation_choices_are_the_implemented_ones():
    hint = typing.get_type_hints(model_entry("mlp").build)["activation"]
    assert set(typing.get_args(hint)) == set(_ACTIVATIONS)
