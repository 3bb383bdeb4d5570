import pytest
import torch

from landscape.models import create_model, list_models, model_entry

IMAGE_INPUT = {"mlp": (1, 28, 28), "lenet300_100": (1, 28, 28), "lenet5": (1, 28, 28)}


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_outputs_logits(name):
    entry = model_entry(name)
    shape = IMAGE_INPUT.get(name, (3, 32, 32))
    model = create_model(name, num_classes=7, input_shape=shape, **entry.test_kwargs).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *shape))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


def _count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        # 784*300+300 + 300*100+100 + 100*10+10
        ("lenet300_100", {}, 266_610),
        # conv 1*20*25+20, conv 20*50*25+50, fc 800*500+500, fc 500*10+10
        ("lenet5", {}, 431_080),
        # 784*1000+1000 + 1000*10+10
        ("mlp", {"widths": 1000}, 795_010),
        # + BatchNorm gamma and beta of 1000 units
        ("mlp", {"widths": [1000], "batchnorm": True}, 797_010),
        # torchvision VGG16 convs 14,714,688 + 512*512+512 + 512*512+512 + 512*10+10
        ("vgg16", {"input_shape": (3, 32, 32)}, 15_245_130),
        # + BatchNorm 2 * (2*64 + 2*128 + 3*256 + 6*512)
        ("vgg16_bn", {"input_shape": (3, 32, 32)}, 15_253_578),
    ],
)
def test_parameter_counts_match_hand_computed_figures(name, kwargs, expected):
    assert _count(create_model(name, **kwargs)) == expected


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown model 'alexnet'.*lenet5"):
        create_model("alexnet")


def test_unknown_option_lists_the_models_options():
    with pytest.raises(ValueError, match=r"no option\(s\) \['depth'\].*widths"):
        create_model("mlp", depth=3)


def test_impossible_values_are_rejected():
    with pytest.raises(ValueError, match="6n \\+ 4"):
        create_model("wrn", depth=12, input_shape=(3, 32, 32))
    with pytest.raises(ValueError, match=r"model 'mlp': option widths=\[0\] must be positive"):
        create_model("mlp", widths=[0])
    with pytest.raises(ValueError, match=r"model 'basicnet': option width=-1\.0 must be "):
        create_model("basicnet", width=-1, input_shape=(3, 32, 32))
    with pytest.raises(ValueError, match=r"model 'vgg16_bn': option width=0\.0 must be "):
        create_model("vgg16_bn", width=0, input_shape=(3, 32, 32))
    with pytest.raises(ValueError, match=r"model 'mlp': num_classes must be a positive integer"):
        create_model("mlp", num_classes=0)
    with pytest.raises(ValueError, match="side >= 32"):
        create_model("vgg16", input_shape=(1, 28, 28))


def test_seeded_init_is_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = create_model("mlp", widths=[16], seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    b = create_model("mlp", widths=[16], seed=5)
    c = create_model("mlp", widths=[16], seed=6)
    for (n, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), n
    assert not torch.equal(a.out.weight, c.out.weight)
