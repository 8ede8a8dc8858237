import pytest

from int8ptq.errors import UserError
from int8ptq.zoo.export import param_count
from int8ptq.zoo.registry import MODELS, get


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_lite_definitions_match_published_weights_key_for_key(name: str) -> None:
    entry = get(name)
    model = entry.build()
    sd = entry.weights()
    assert set(model.state_dict()) == set(sd)
    assert all(model.state_dict()[k].shape == v.shape for k, v in sd.items())
    assert param_count(name) == entry.params


def test_unknown_model_suggests_the_nearest():
    with pytest.raises(UserError, match="did you mean 'efficientnet_lite0'"):
        get("efficientnet-lite0")
    assert "efficientnet_lite0" in MODELS


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parameter_counts_equal_the_published_ones(name):
    assert param_count(name) == MODELS[name].params


def test_weights_load_safely(tmp_path):
    import os

    import torch

    from int8ptq.zoo.weights import load_state_dict

    good = tmp_path / "good.pth"
    torch.save(get("resnet50").build().state_dict(), good)
    assert "layer4.2.conv3.weight" in load_state_dict(good)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    bad = tmp_path / "bad.pth"
    torch.save({"w": Evil()}, bad)
    with pytest.raises(UserError, match="cannot load weights"):
        load_state_dict(bad)
    assert not (tmp_path / "pwned").exists()
