"""Reading captioned images: CSV, JSON lines, COCO, Karpathy, imagefolder, Hugging Face;
splits by image; and clear errors naming the file and line of bad rows."""
from __future__ import annotations

import importlib
import json

import pytest

from seqkit.data import Source
from seqkit.errors import SeqkitError
from seqkit_caption.data import prepare, read_splits
from seqkit_caption.sources import from_hf, normalize_caption, read_folder


def folder_source(path) -> Source:
    return Source("folder", path=path)


def test_normalize_caption():
    assert normalize_caption("  A dog's ball, RED!  ") == "a dog's ball red"
    assert normalize_caption("Über café — 2 Äpfel.") == "über café 2 äpfel"
    assert normalize_caption("... !") == ""


def test_csv_folder_is_split_by_image(image_folder, tiny_config):
    config = tiny_config(valid_fraction=0.2, test_fraction=0.3)
    splits = read_splits(config, folder_source(image_folder))
    assert {k: len(v) for k, v in splits.items()} == {"valid": 2, "test": 3, "train": 5}
    seen = [name for data in splits.values() for name in data.names]
    assert sorted(seen) == sorted(f"img{i}.png" for i in range(10))  # each image once
    for data in splits.values():  # every image keeps both its captions
        for name, captions in zip(data.names, data.captions):
            number = name[3]
            assert captions == [f"a picture number {number}", f"colour shade {number}"]


def test_split_whole_scores_every_image_as_one_set(image_folder, tiny_config):
    """``--split whole``: the folder's ten images and the built-in scenes of every split, each
    once, in one split named "whole" (a new photo collection scored by a trained run)."""
    config = tiny_config(valid_fraction=0.2, test_fraction=0.3)
    whole = read_splits(config, Source("folder", path=image_folder, whole=True))
    assert list(whole) == ["whole"]
    assert sorted(whole["whole"].names) == sorted(f"img{i}.png" for i in range(10))
    scenes = config.scenes
    builtin = read_splits(config, Source("builtin", whole=True))
    assert list(builtin) == ["whole"]
    assert len(builtin["whole"]) == scenes.train_images + scenes.valid_images + scenes.test_images


def test_prepare_a_folder_gives_batches(image_folder, tiny_config):
    config = tiny_config(valid_fraction=0.2, test_fraction=0.3)
    data = prepare(config, folder_source(image_folder), None)
    batch = next(iter(data.split("train").epoch(0)))
    assert batch.src.shape[1:] == (3, 32, 32) and batch.owner is None
    assert (batch.tgt[:, 0] == data.assets.tokenizer.bos_id).all()
    tok = data.assets.tokenizer
    ends = batch.tgt.gather(1, (batch.tgt_lengths - 1).unsqueeze(1)).squeeze(1)
    assert (ends == tok.eos_id).all()  # tgt_lengths count <bos> and <eos>
    held = next(iter(data.split("test").epoch(0)))
    assert held.src.shape[0] == 3 and held.tgt.shape[0] == 6
    assert held.owner.tolist() == [0, 0, 1, 1, 2, 2]
    assert data.split("valid").context.bank is not None and not data.split("valid").context.scenes


def test_missing_image_names_file_and_line(image_folder):
    with (image_folder / "captions.csv").open("a") as handle:
        handle.write("img3.png,fine\nnope.png,a missing picture\n")
    with pytest.raises(SeqkitError, match=r"captions.csv:23: image 'nope.png' not found"):
        read_folder(image_folder)


def test_empty_caption_names_file_and_line(image_folder):
    lines = (image_folder / "captions.csv").read_text().splitlines()
    lines[3] = "img1.png,\"?! ...\""
    (image_folder / "captions.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(SeqkitError, match=r"captions.csv:4: the caption of img1.png is empty "
                                          r"after tokenisation \('\?! \.\.\.'\)"):
        read_folder(image_folder)


def test_jsonl_splits_with_caption_lists(tmp_path, save_image):
    for split, count in (("train", 3), ("test", 2)):
        rows = []
        for i in range(count):
            save_image(tmp_path / "pics" / f"{split}{i}.jpg")
            rows.append(json.dumps({"file_name": f"pics/{split}{i}.jpg",
                                    "captions": [f"One {split}", f"Two {i}"]}))
        (tmp_path / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    found = read_folder(tmp_path)
    assert sorted(found) == ["test", "train"]
    assert found["train"].captions[2] == ["one train", "two 2"]
    broken = '{"file_name": "pics/test0.jpg", "captions": ["x"]}\n{oops\n'
    (tmp_path / "test.jsonl").write_text(broken)
    with pytest.raises(SeqkitError, match=r"test.jsonl:2: not valid JSON"):
        read_folder(tmp_path)


def test_coco_captions(tmp_path, save_image):
    for split in ("train2017", "val2017"):
        images = [{"id": 10 + i, "file_name": f"{split}_{i}.jpg"} for i in range(3)]
        for image in images:
            save_image(tmp_path / split / image["file_name"])
        notes = [{"image_id": 10 + i, "id": i * 7 + k, "caption": f"Caption {k} of {i}."}
                 for i in range(3) for k in range(2)]
        (tmp_path / "annotations").mkdir(exist_ok=True)
        (tmp_path / "annotations" / f"captions_{split}.json").write_text(
            json.dumps({"images": images, "annotations": notes}))
    found = read_folder(tmp_path)
    assert sorted(found) == ["train", "valid"]
    assert found["valid"].captions[1] == ["caption 0 of 1", "caption 1 of 1"]
    assert found["train"].images[0] == tmp_path / "train2017" / "train2017_0.jpg"


def test_karpathy_split_file(tmp_path, save_image):
    images = []
    for i, split in enumerate(["train", "restval", "val", "test", "train"]):
        save_image(tmp_path / "images" / f"{i}.jpg")
        images.append({"filename": f"{i}.jpg", "split": split,
                       "sentences": [{"raw": f"Photo {i}.", "tokens": ["photo"]}]})
    (tmp_path / "dataset_flickr8k.json").write_text(json.dumps({"images": images}))
    found = read_folder(tmp_path)
    assert {k: len(v) for k, v in found.items()} == {"train": 3, "valid": 1, "test": 1}


def test_imagefolder_layout_and_hugging_face(tmp_path, save_image):
    datasets = pytest.importorskip("datasets")
    for split in ("train", "test"):
        rows = []
        for i in range(3):
            save_image(tmp_path / split / f"{i}.png", colour=(40 * i, 9, 9))
            rows += [json.dumps({"file_name": f"{i}.png", "caption": f"{split} picture {i}"})]
        (tmp_path / split / "metadata.jsonl").write_text("\n".join(rows) + "\n")
    native = read_folder(tmp_path)
    assert sorted(native) == ["test", "train"] and len(native["train"]) == 3
    loaded = datasets.load_dataset("imagefolder", data_dir=str(tmp_path))
    data = from_hf(loaded["test"], "hf:local test")
    assert data.captions == native["test"].captions
    assert data.names == ["0.png", "1.png", "2.png"]


def test_hf_rows_of_one_image_are_merged(tmp_path, monkeypatch, tiny_config, save_image):
    datasets = pytest.importorskip("datasets")
    paths = [str(save_image(tmp_path / f"{i}.png", colour=(i * 30, 0, 0))) for i in range(6)]
    rows = {"image": [p for p in paths for _ in range(2)],
            "text": [f"picture {i} take {k}" for i in range(6) for k in range(2)]}
    dataset = datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image())
    monkeypatch.setattr("seqkit_caption.sources.hf_splits", lambda source: {"train": dataset})
    config = tiny_config(valid_fraction=0.34, test_fraction=0.0)
    data = prepare(config, Source("hf", name="someone/pictures"), None)
    valid = data.split("valid").context.data
    assert len(valid) == 2 and all(len(c) == 2 for c in valid.captions)
    batch = next(iter(data.split("train").epoch(0)))
    assert batch.src.shape[1:] == (3, 32, 32)


def test_bad_folders(tmp_path, save_image):
    with pytest.raises(SeqkitError, match="has no caption file"):
        read_folder(tmp_path)
    (tmp_path / "config.json").write_text('{"hidden": 3}')
    with pytest.raises(SeqkitError, match="neither COCO captions"):
        read_folder(tmp_path)
    (tmp_path / "config.json").unlink()
    save_image(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text("image,label\na.png,cat\n")
    with pytest.raises(SeqkitError, match=r"labels.csv has no caption column \(looked for "
                                          r"caption.*it has image, label\)"):
        read_folder(tmp_path)


def test_named_and_unnamed_files_do_not_mix(image_folder, tiny_config):
    (image_folder / "test.csv").write_text("image,caption\nimages/img1.png,hello\n")
    with pytest.raises(SeqkitError, match="mixes caption files"):
        read_splits(tiny_config(), folder_source(image_folder))


@pytest.mark.parametrize("name", ["../secret.png", "images/../../secret.png", "/abs/secret.png",
                                  "..\\secret.png"])
def test_image_names_cannot_leave_the_data_folder(tmp_path, save_image, name):
    """Issue 11 item 8: a caption file naming ``../x`` or ``/x`` is refused, even when that
    file exists, so a downloaded caption file cannot make seqkit read the rest of the disk."""
    data = tmp_path / "data"
    save_image(tmp_path / "secret.png")
    save_image(data / "images" / "ok.png")
    target = str(tmp_path / "secret.png") if name.startswith("/") else name
    (data / "captions.csv").write_text(f"image,caption\nok.png,fine\n{target},a secret\n")
    with pytest.raises(SeqkitError, match=r"captions.csv:3: image '.*secret.png' lies outside "
                                          r"the data folder"):
        read_folder(data)
    (data / "captions.csv").write_text("image,caption\nimages/ok.png,fine\n")
    assert read_folder(data)[None].names == ["images/ok.png"]  # a subfolder is inside


def test_coco_file_at_the_top_does_not_look_above_the_folder(tmp_path, save_image):
    """COCO images are looked up beside the annotations' folder's parent only when that parent
    is still inside the data folder."""
    data = tmp_path / "data"
    save_image(tmp_path / "images" / "above.jpg")  # beside the data folder, not in it
    (data).mkdir()
    coco = {"images": [{"id": 1, "file_name": "above.jpg"}],
            "annotations": [{"image_id": 1, "caption": "Above."}]}
    (data / "captions.json").write_text(json.dumps(coco))
    with pytest.raises(SeqkitError, match="image 'above.jpg' not found"):
        read_folder(data)


def test_an_overlong_csv_field_names_its_line(image_folder):
    """Issue 11 item 10: a field over the csv module's 131,072-character limit (a huge caption,
    or an unclosed quote that swallows the rest of the file) is a clear error, not _csv.Error."""
    with (image_folder / "captions.csv").open("a") as handle:
        handle.write("img1.png,\"" + "word " * 30000 + "\"\n")
    with pytest.raises(SeqkitError, match=r"captions.csv:22: not a readable CSV row .*field "
                                          r"larger than field limit.*unclosed quote"):
        read_folder(image_folder)


@pytest.mark.parametrize("meta, message", [
    ({"images": [1], "annotations": 5}, r"'images' should be a list|images\[0\] should be"),
    ({"images": [{"id": 1, "file_name": "a.png"}], "annotations": 5},
     r"COCO captions but is malformed: 'annotations' should be a list, not 5"),
    ({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"image_id": 1}]},
     r"annotations\[0\] should be an object with a 'caption' \(str\)"),
    ({"images": {"a": 1}}, r"Karpathy split file but is malformed: 'images' should be a list"),
    ({"images": [{"filename": "a.png", "sentences": "x"}]},
     r"images\[0\] should be an object with a 'sentences' \(list\)"),
    ({"images": []}, "holds no captioned images"),
])
def test_malformed_coco_and_karpathy_files_are_clear_errors(tmp_path, save_image, meta,
                                                            message):
    """Issue 11 item 11: each is one SeqkitError naming the file and the bad part."""
    save_image(tmp_path / "a.png")
    (tmp_path / "captions.json").write_text(json.dumps(meta))
    with pytest.raises(SeqkitError, match=message):
        read_folder(tmp_path)


def test_non_string_captions_in_json_lines_are_read_as_text(tmp_path, save_image):
    save_image(tmp_path / "a.png")
    (tmp_path / "c.jsonl").write_text('{"image": "a.png", "caption": 5}\n')
    assert read_folder(tmp_path)[None].captions == [["5"]]


def test_batch_norm_statistics_are_reestimated_on_the_whole_bank(tiny_config, monkeypatch):
    task = importlib.import_module("seqkit_caption.task")  # the module, not the Task
    config = tiny_config(scenes={"train_images": 300}, train_cfg={"batch_size": 16},
                         baseline_images=300)
    data = prepare(config, Source("builtin"), None)
    model = task.build_model(config, data.assets)
    seen = []
    monkeypatch.setattr(model, "recalibrate_norms",
                        lambda batches: seen.extend(len(images) for images in batches))
    task.evaluate(model, data.split("valid"), config, data.assets)
    assert sum(seen) == 300  # every bank image, not the first few batches of them
