"""Hugging Face vision backbones, by local folder or hf: id, with tiny random models saved to a
temporary folder (nothing is downloaded)."""
from __future__ import annotations

import shutil

import pytest
import torch

import seqkit
from seqkit.testing import check_task
from seqkit_caption import caption_images, example_scenes, task
from seqkit_caption.frontend import build_encoder

transformers = pytest.importorskip("transformers")



@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    """A one-layer HF ViT over 8x8 patches of 32x32 images (a class token and 16 patches)."""
    folder = tmp_path_factory.mktemp("hf") / "tiny-vit"
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=12,
                                    num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=16)
    transformers.ViTModel(config).save_pretrained(folder)
    return folder


def encoder(backbone, tiny_config, **fields):
    return build_encoder(tiny_config(backbone=str(backbone), cut_after="", **fields))


def test_convolutional_hf_model_gives_its_grid(tiny_hf_resnet, tiny_config):
    enc = encoder(tiny_hf_resnet, tiny_config, feature_size=0)
    memory = enc(torch.zeros(3, 3, 32, 32, dtype=torch.uint8))
    assert enc.frontend.grid == (4, 4) and memory.features.shape == (3, 16, 12)
    assert torch.allclose(enc.frontend.mean.flatten(), torch.tensor([0.5, 0.4, 0.3]))


def test_transformer_tokens_are_laid_on_a_grid(tiny_vit, tiny_config):
    enc = encoder(f"hf:{tiny_vit}", tiny_config, feature_size=7)
    memory = enc(torch.zeros(3, 3, 32, 32, dtype=torch.uint8))
    assert enc.frontend.grid == (4, 4)  # the class token is dropped
    assert memory.features.shape == (3, 16, 7)
    assert torch.allclose(enc.frontend.std.flatten(), torch.tensor([0.229, 0.224, 0.225]))


def test_freeze_parts_of_an_hf_model(tiny_hf_resnet, tiny_config):
    enc = encoder(tiny_hf_resnet, tiny_config, finetune_from="encoder")
    model = enc.frontend.body.model.model
    assert not any(p.requires_grad for p in model.embedder.parameters())
    assert all(p.requires_grad for p in model.encoder.parameters())
    with pytest.raises(seqkit.SeqkitError, match="not a stage.*embedder, encoder, pooler"):
        encoder(tiny_hf_resnet, tiny_config, finetune_from="layer4")
    with pytest.raises(seqkit.SeqkitError, match="cut_after applies to torchvision"):
        build_encoder(tiny_config(backbone=str(tiny_hf_resnet), cut_after="layer2"))


def test_hf_run_saves_and_loads_without_the_hub(tiny_hf_resnet, tiny_config, tmp_path):
    local = tmp_path / "model"
    shutil.copytree(tiny_hf_resnet, local)
    config = tiny_config(backbone=f"hf:{local}", cut_after="")
    check_task(task, config, tmp_path / "run")
    assert (tmp_path / "run" / "encoder" / "config.json").is_file()
    shutil.rmtree(local)  # the run must not need the original model any more
    run = seqkit.load(tmp_path / "run")
    images = [image for image, _ in example_scenes(2, config=config.scenes)]
    assert len(caption_images(run, images)) == 2


def test_unknown_hf_model_is_a_clear_error(tmp_path, tiny_config):
    from seqkit.data import Source
    from seqkit_caption.data import prepare

    with pytest.raises(seqkit.SeqkitError, match="cannot load the Hugging Face model config"):
        prepare(tiny_config(backbone=f"hf:{tmp_path / 'nothing-here'}", cut_after=""),
                Source("builtin"), None)


def plant_remote_code(folder, marker, model_type=None):
    """Put evil.py (writes ``marker`` when imported) in ``folder`` and point its config.json's
    ``auto_map`` at it, as a hostile run folder would."""
    import json

    folder.mkdir(exist_ok=True)
    (folder / "evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "from transformers import PretrainedConfig\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil-net'\n")
    path = folder / "config.json"
    fields = json.loads(path.read_text()) if path.is_file() else {}
    fields["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilConfig"}
    if model_type:
        fields["model_type"] = model_type
    path.write_text(json.dumps(fields))



def test_code_planted_in_an_hf_run_folder_is_never_run(tiny_hf_resnet, tiny_config, tmp_path,
                                                       no_prompt):
    config = tiny_config(backbone=str(tiny_hf_resnet), cut_after="")
    check_task(task, config, tmp_path / "run")
    plant_remote_code(tmp_path / "run" / "encoder", tmp_path / "ran")
    run = seqkit.load(tmp_path / "run")
    assert type(run.model.encoder.frontend.body.model.model).__name__ == "ResNetModel"
    assert not (tmp_path / "ran").exists() and no_prompt == []


def test_a_torchvision_run_ignores_an_encoder_folder(tiny_config, tmp_path, no_prompt):
    check_task(task, tiny_config(), tmp_path / "run")
    plant_remote_code(tmp_path / "run" / "encoder", tmp_path / "ran", model_type="evil-net")
    run = seqkit.load(tmp_path / "run")
    assert run.model.grid == (4, 4)
    assert not (tmp_path / "ran").exists() and no_prompt == []
