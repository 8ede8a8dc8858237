import pytest

from int8ptq.errors import UserError
from int8ptq.zoo.export import param_count
from int8ptq.zoo.registry import MODELS, get


def test_lite0_definition_matches_published_weights_key_for_key():
    entry = get("efficientnet_lite0")
    model = entry.build()
    sd = entry.weights()
    assert set(model.state_dict()) == set(sd)
    assert all(model.state_dict()[k].shape == v.shape for k, v in sd.items())
    assert param_count("efficientnet_lite0") == entry.params


def test_unknown_model_suggests_the_nearest():
    with pytest.raises(UserError, match="did you mean 'efficientnet_lite0'"):
        get("efficientnet-lite0")
    assert "efficientnet_lite0" in MODELS
