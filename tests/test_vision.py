"""seqkit.vision: backbones by name, cutting and freezing, the image-grid and frame front-ends,
and Hugging Face loading that never runs code from a model or run folder. Tiny models only:
nothing is downloaded."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from seqkit.encoder import Encoder
from seqkit.errors import SeqkitError
from seqkit.vision import (FrameFrontend, ImageGrid, frame_frontend, hf_backbone, hf_config,
                           load_backbone, small_cnn)

B, T, C = 3, 7, 3  # odd sizes: a swapped dimension fails loudly



def clips(height=21, width=19, seed=0, channels=C):
    torch.manual_seed(seed)
    return torch.rand(B, T, channels, height, width)


def test_import_seqkit_loads_neither_torchvision_nor_transformers():
    code = ("import sys, seqkit, seqkit.vision, seqkit.encoder\n"
            "print(sorted(m for m in ('torchvision', 'transformers', 'torchaudio', 'gradio')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_frame_frontend_gives_one_vector_per_frame():
    frontend = FrameFrontend(small_cnn(C, (5, 9)), (21, 19), feature_size=11)
    lengths = torch.tensor([7, 4, 1])
    features, out_lengths = frontend(clips(), lengths)
    assert features.shape == (B, T, 11) and frontend.output_size == 11
    assert out_lengths is lengths
    bare = FrameFrontend(small_cnn(C, (5, 9)), 21)  # no projection: the last width
    assert bare(clips(), None)[0].shape == (B, T, 9) and bare.output_size == 9


def test_padding_frames_come_out_zero_and_never_touch_real_frames():
    """In training mode batch norm pools statistics over the batch: only the real frames may
    enter it, so garbage in the padding must not change a single real feature."""
    frontend = FrameFrontend(small_cnn(C, (5, 9)), 21, feature_size=11).train()
    lengths = torch.tensor([7, 4, 1])
    real = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    tidy = clips() * real[..., None, None, None]
    noisy = tidy + 50 * torch.randn_like(tidy) * ~real[..., None, None, None]
    first, _ = frontend(tidy, lengths)
    second, _ = frontend(noisy, lengths)
    assert torch.equal(first, second)
    assert torch.count_nonzero(first[~real]) == 0 and torch.count_nonzero(first[real]) > 0


def test_frames_are_encoded_independently_in_eval_mode_and_in_chunks():
    frontend = FrameFrontend(small_cnn(C, (5, 9)), 21, feature_size=11).eval()
    chunked = FrameFrontend(small_cnn(C, (5, 9)), 21, feature_size=11, chunk=2).eval()
    chunked.load_state_dict(frontend.state_dict())
    data, lengths = clips(), torch.tensor([7, 4, 1])
    with torch.no_grad():
        whole, _ = frontend(data, lengths)
        alone = frontend.frame_features(data[1, :4])  # (4, F)
        pieces, _ = chunked(data, lengths)
    assert torch.allclose(whole[1, :4], alone, atol=1e-6)
    assert torch.allclose(whole, pieces, atol=1e-6)


def test_uint8_frames_are_scaled_like_floats():
    frontend = FrameFrontend(small_cnn(C, (5,)), 21).eval()
    data = torch.randint(0, 256, (B, T, C, 21, 19), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.allclose(frontend(data)[0], frontend(data.float() / 255)[0], atol=1e-5)


def test_the_encoder_wraps_the_frame_frontend_and_masks_padding():
    frontend = FrameFrontend(small_cnn(1, (5, 9)), 17)
    encoder = Encoder(frontend, frontend.output_size, "gru", hidden_size=13, bidirectional=True)
    lengths = torch.tensor([5, 7, 2])
    memory = encoder(clips(17, 17, channels=1), lengths)
    assert memory.features.shape == (B, T, 26)
    assert memory.mask.sum(1).tolist() == [5, 7, 2]


def test_a_frame_tagger_learns_where_the_square_is():
    """Small CNN + GRU + per-frame head learns to tag each frame: square on the left or right."""
    torch.manual_seed(0)

    def batch(count):
        tags = torch.randint(0, 2, (count, T))
        frames = torch.zeros(count, T, 1, 15, 15)
        for (b, t), tag in zip(torch.cartesian_prod(torch.arange(count), torch.arange(T)),
                               tags.flatten()):
            row, col = torch.randint(0, 10, (2,)).tolist()
            col = col % 3 + (0 if tag == 0 else 9)
            frames[b, t, 0, row: row + 5, col: col + 4] = 1.0
        return frames, tags

    frontend = FrameFrontend(small_cnn(1, (6, 10)), 15)
    encoder = Encoder(frontend, frontend.output_size, "gru", hidden_size=9)
    head = nn.Linear(9, 2)
    params = [*encoder.parameters(), *head.parameters()]
    optimiser = torch.optim.Adam(params, lr=0.02)
    for _ in range(60):
        frames, tags = batch(8)
        logits = head(encoder(frames, torch.full((8,), T)).features)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), tags.flatten())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    encoder.eval()
    frames, tags = batch(B * 5)
    with torch.no_grad():
        guess = head(encoder(frames).features).argmax(-1)
    assert (guess == tags).float().mean() > 0.9


def test_a_frozen_torchvision_backbone_gets_no_gradient_and_keeps_its_statistics():
    frontend = frame_frontend("resnet18", 33, cut_after="layer2", finetune_from="none",
                              feature_size=11).train()
    assert frontend.output_size == 11 and frontend.frozen
    before = {k: v.clone() for k, v in frontend.body.state_dict().items()}
    features, _ = frontend(clips(33, 33), torch.tensor([7, 4, 1]))
    features.sum().backward()
    assert all(p.grad is None for p in frontend.body.parameters())
    assert all(p.grad is not None for p in frontend.project.parameters())
    assert all(torch.equal(before[k], v) for k, v in frontend.body.state_dict().items())


def test_finetune_from_freezes_only_the_earlier_stages():
    frontend = FrameFrontend(small_cnn(C, (5, 7, 9)), 21, finetune_from="block2").train()
    body = frontend.body
    assert not frontend.frozen
    assert not any(p.requires_grad for p in body.block1.parameters())
    assert all(p.requires_grad for p in body.block2.parameters())
    assert not body.block1.training and body.block2.training
    frozen_mean = body.block1[1].running_mean.clone()
    moving_mean = body.block2[1].running_mean.clone()
    frontend(clips())
    assert torch.equal(body.block1[1].running_mean, frozen_mean)
    assert not torch.equal(body.block2[1].running_mean, moving_mean)


def test_cutting_after_a_stage():
    assert FrameFrontend(small_cnn(C, (5, 7, 9)), 21, cut_after="block2").output_size == 7
    grid = ImageGrid(load_backbone("resnet18"), 45, cut_after="layer3", positions=False)
    assert grid.grid == (3, 3) and grid.output_size == 256
    assert [name for name, _ in grid.body.named_children()][-1] == "layer3"


def test_image_grid_gives_cells_with_positions():
    grid = ImageGrid(small_cnn(C, (5, 9)), (21, 13), feature_size=11)
    features, lengths = grid(torch.rand(B, C, 21, 13))
    assert grid.grid == (6, 4) and features.shape == (B, 24, 11) and lengths is None
    assert grid.position.shape == (1, 24, 11)


@pytest.mark.parametrize("call, message", [
    (lambda: load_backbone("resnet81"), "unknown backbone 'resnet81'. Did you mean resnet18"),
    (lambda: load_backbone("small_cn"), "Did you mean small_cnn"),
    (lambda: frame_frontend("small_cnn", cut_after="block7"),
     "cut_after 'block7' is not a stage of the backbone; its stages are: block1, block2, block3"),
    (lambda: frame_frontend("small_cnn", finetune_from="conv1"), "its stages are: block1"),
    (lambda: frame_frontend("squeezenet1_1", frame_size=8), "cannot take 8x8 images"),
    (lambda: frame_frontend("small_cnn", 21)(torch.rand(B, C, 21, 21)), r"clips \(B, T, C, H, W\)"),
    (lambda: frame_frontend("small_cnn", 21)(torch.rand(B, T, 1, 21, 21)),
     "takes 3 colour channels, not 1"),
])
def test_bad_settings_and_inputs_are_clear_errors(call, message):
    with pytest.raises(SeqkitError, match=message):
        call()


# Hugging Face models: tiny random ones saved to a temporary folder.


def test_frame_frontend_over_a_hugging_face_model(tiny_hf_resnet):
    frontend = FrameFrontend(load_backbone(f"hf:{tiny_hf_resnet}"), 33, finetune_from="encoder")
    features, _ = frontend(clips(33, 33), torch.tensor([7, 4, 1]))
    assert features.shape == (B, T, 12) and torch.count_nonzero(features[2, 1:]) == 0
    assert torch.allclose(frontend.mean.flatten(), torch.tensor([0.5, 0.4, 0.3]))
    model = frontend.body.model.model
    assert not any(p.requires_grad for p in model.embedder.parameters())
    assert all(p.requires_grad for p in model.encoder.parameters())


def plant_remote_code(folder, marker, model_type=None):
    """Make ``folder`` ask for its own Python: ``auto_map`` entries pointing at evil.py, which
    writes ``marker`` when imported."""
    (folder / "evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "from transformers import PretrainedConfig, PreTrainedModel\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil-net'\n"
        "class EvilModel(PreTrainedModel):\n    config_class = EvilConfig\n")
    for name, classes in [("config.json", {"AutoConfig": "evil.EvilConfig",
                                           "AutoModel": "evil.EvilModel"}),
                          ("preprocessor_config.json", {"AutoImageProcessor": "evil.EvilConfig"})]:
        fields = json.loads((folder / name).read_text())
        fields["auto_map"] = classes
        if model_type and name == "config.json":
            fields["model_type"] = model_type
        (folder / name).write_text(json.dumps(fields))



def test_a_known_model_type_loads_without_running_the_folder_code(tiny_hf_resnet, tmp_path,
                                                                   no_prompt):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_hf_resnet, folder)
    marker = tmp_path / "ran"
    plant_remote_code(folder, marker)
    config = hf_config(str(folder))
    assert type(config).__module__.startswith("transformers.models.resnet")
    for backbone in (hf_backbone(str(folder)), hf_backbone(f"hf:{folder}", config, False)):
        assert type(backbone.body[0][1].model).__name__ == "ResNetModel"
    assert not marker.exists() and no_prompt == []


def test_a_model_only_its_own_code_can_load_is_refused_without_asking(tiny_hf_resnet, tmp_path,
                                                                      no_prompt):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_hf_resnet, folder)
    marker = tmp_path / "ran"
    plant_remote_code(folder, marker, model_type="evil-net")
    with pytest.raises(SeqkitError, match="model config of .*auto_map.*never runs such code"):
        hf_config(str(folder))
    with pytest.raises(SeqkitError, match="vision model of .*never runs such code"):
        load_backbone(f"hf:{folder}")
    assert not marker.exists() and no_prompt == []
