"""Backbones: torchvision models cut before pooling, stages to cut at or freeze, errors."""
from __future__ import annotations

import urllib.error

import pytest
import torch

from seqkit.errors import SeqkitError
from seqkit_caption import CaptionConfig
from seqkit_caption.frontend import build_encoder


def encoder(**fields):
    return build_encoder(CaptionConfig(**{"backbone": "resnet18", "image_size": 45,
                                          "feature_size": 0, **fields}))


@pytest.mark.parametrize("name, channels", [("mobilenet_v3_small", 576),
                                            ("shufflenet_v2_x0_5", 1024),
                                            ("squeezenet1_1", 512)])
def test_other_torchvision_backbones_give_a_grid(name, channels):
    enc = encoder(backbone=name, cut_after="")
    memory = enc(torch.zeros(3, 3, 45, 45, dtype=torch.uint8))
    h, w = enc.frontend.grid
    assert memory.features.shape == (3, h * w, channels) and enc.output_size == channels


def test_resnet_cut_before_pooling_and_earlier():
    assert encoder(cut_after="").frontend.grid == (2, 2)  # 45 px / 32
    assert encoder(cut_after="layer3").frontend.grid == (3, 3)
    assert encoder(cut_after="layer3").output_size == 256


def test_finetune_from_freezes_the_earlier_stages():
    enc = encoder(cut_after="layer3", finetune_from="layer2")
    body = enc.frontend.body
    assert not any(p.requires_grad for p in body.layer1.parameters())
    assert not any(p.requires_grad for p in body.conv1.parameters())
    assert all(p.requires_grad for p in body.layer2.parameters())
    enc.train()
    assert not body.bn1.training and not body.layer1.training and body.layer2.training


def test_freeze_everything():
    enc = encoder(cut_after="layer2", finetune_from="none", feature_size=7)
    assert not any(p.requires_grad for p in enc.frontend.body.parameters())
    assert all(p.requires_grad for p in enc.frontend.project.parameters())


@pytest.mark.parametrize("fields, message", [
    ({"cut_after": "layer9"}, "layer9' is not a stage of the backbone; its stages are: conv1"),
    ({"finetune_from": "block2"}, "its stages are"),
    ({"backbone": "resnet81"}, "Did you mean resnet18"),
    ({"backbone": "vit_b_16", "cut_after": ""}, "use a convolutional model"),
])
def test_bad_backbone_settings_are_clear(fields, message):
    with pytest.raises(SeqkitError, match=message.replace("(", r"\(")):
        encoder(**fields)


def test_too_small_an_image_is_a_clear_error():
    with pytest.raises(SeqkitError, match="cannot take 8x8 images"):
        build_encoder(CaptionConfig(backbone="squeezenet1_1", cut_after="", image_size=8))


def test_pretrained_without_network_fails_clearly(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", offline)
    with pytest.raises(SeqkitError, match="cannot load the pretrained weights of resnet18.*"
                                          "--no-pretrained"):
        encoder(pretrained=True)
