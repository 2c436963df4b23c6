"""The images task and the report's CNNs: sizes, the folder loader, augmentation, splits."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from search.data import get_task
from search.data.image_augment import (
    ReportAugmentation,
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    flip_where,
    rotate,
)
from search.data.images import IMAGENET_MEAN, IMAGENET_STD, PIXEL_SIDE, pixel_features
from search.models import count_parameters, create_model
from torchvision.transforms import v2

from search.errors import SpecError
from search.space.validation import validate_spec

TASK = get_task("images")
IMAGE_INPUTS = {"in_channels": 3, "num_classes": 3, "image_size": 64}


def options(**data):
    return TASK.Options(**data)


def refused_spec(**data) -> str:
    """The message a user gets for this data section (through the real spec validation)."""
    with pytest.raises(SpecError) as caught:
        validate_spec({"name": "t", "task": "images", "data": data, "model": {"name": "resnet18"}})
    return str(caught.value)


def refused_spec_model(name: str, **model) -> str:
    with pytest.raises(SpecError) as caught:
        validate_spec({"name": "t", "task": "images", "model": {"name": name, **model}})
    return str(caught.value)


# --- the networks -------------------------------------------------------------------------

def test_resnet18_has_the_reports_parameter_count():
    assert count_parameters(create_model("resnet18", {}, IMAGE_INPUTS)) == 11_175_171


def test_vgg13_parameter_count_at_64_px():
    # Convolutions 9,404,992 (64-128-256-512-512, two 3x3 each, with biases), then
    # FC 2048 -> 4096 -> 4096 -> 3: 8,392,704 + 16,781,312 + 12,291.
    assert count_parameters(create_model("vgg13", {}, IMAGE_INPUTS)) == 34_591_299


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_vgg13_runs_at_32_and_64_px_in_channels_last(size, batch_norm):
    model = create_model("vgg13", {"dropout1": 0.3, "dropout2": 0.1, "batch_norm": batch_norm},
                         {**IMAGE_INPUTS, "image_size": size}).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, size, size).contiguous(memory_format=torch.channels_last)
    assert model(x).shape == (2, 3)


def test_vgg13_refuses_images_smaller_than_its_pooling():
    with pytest.raises(ValueError, match="at least 32 px"):
        create_model("vgg13", {}, {**IMAGE_INPUTS, "image_size": 16})


def test_resnet18_conv1_dropout_is_a_validated_option():
    message = refused_spec_model("resnet18", conv1_dropout=1.5)
    assert "model.conv1_dropout" in message
    model = create_model("resnet18", {"conv1_dropout": 0.2}, IMAGE_INPUTS)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)


# --- the folder loader --------------------------------------------------------------------

def write_images(folder, count: int, suffix: str, colour: tuple[int, int, int], size=(20, 14)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", size, colour).save(folder / f"{i}{suffix}")


@pytest.fixture
def image_folder(tmp_path):
    """Three classes of PNGs and JPEGs in ImageFolder layout, 8 readable images each."""
    root = tmp_path / "shapes"
    write_images(root / "circle", 8, ".png", (255, 0, 0))
    write_images(root / "square", 4, ".png", (0, 255, 0), size=(30, 30))
    write_images(root / "square", 4, ".jpg", (0, 255, 0))
    write_images(root / "triangle", 7, ".jpeg", (0, 0, 255))
    Image.new("L", (16, 16), 128).save(root / "triangle" / "grey.png")  # grey: becomes 3 channels
    (root / "triangle" / "notes.txt").write_text("not an image, not a class member")
    return root


def test_folder_loader_reads_pngs_and_jpegs_per_class(image_folder):
    loaded = TASK.load(options(path=str(image_folder), image_size=16))
    assert loaded.class_names == ["circle", "square", "triangle"]
    assert loaded.images.dtype == np.uint8 and loaded.images.shape == (24, 3, 16, 16)
    assert np.bincount(loaded.labels).tolist() == [8, 8, 8]
    assert loaded.skipped == []
    circle = loaded.images[loaded.labels == 0][0]
    assert circle[0].min() == 255 and circle[1].max() == 0  # red stays red after resizing
    assert TASK.model_inputs(options(path=str(image_folder))) == {
        "in_channels": 3, "num_classes": 3, "image_size": 64}


def test_a_relative_folder_is_made_absolute_for_the_trials(image_folder, monkeypatch):
    monkeypatch.chdir(image_folder.parent)
    assert TASK.Options(path="shapes").path == str(image_folder)


def test_corrupt_file_is_skipped_with_a_warning_and_counted(image_folder):
    broken = image_folder / "circle" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with pytest.warns(UserWarning, match="broken.png"):
        loaded = TASK.load(options(path=str(image_folder), image_size=16))
    assert loaded.skipped == [str(broken)]
    assert np.bincount(loaded.labels).tolist() == [8, 8, 8]
    assert "1 unreadable files skipped" in TASK.describe(loaded)
    assert TASK.splits(loaded, options(path=str(image_folder), image_size=16)).info["skipped_files"] == 1


def test_corrupt_file_is_an_error_when_strict(image_folder):
    (image_folder / "square" / "broken.jpg").write_bytes(b"\xff\xd8\xff truncated")
    with pytest.raises(SpecError, match="broken.jpg"):
        TASK.load(options(path=str(image_folder), image_size=16, strict=True))


def test_empty_class_folder_is_an_error(image_folder):
    (image_folder / "empty").mkdir()
    (image_folder / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(SpecError, match="empty holds no image files"):
        TASK.load(options(path=str(image_folder)))


def test_single_class_and_unknown_classes_are_refused_by_the_spec(image_folder, tmp_path):
    message = refused_spec(path=str(image_folder), classes=["circle"])
    assert "data.classes: classification needs at least two classes" in message
    lonely = tmp_path / "lonely"
    write_images(lonely / "only", 3, ".png", (1, 2, 3))
    assert "data.path: " in refused_spec(path=str(lonely))
    assert "1 class sub-folder(s) (only)" in refused_spec(path=str(lonely))
    message = refused_spec(path=str(image_folder), classes=["circle", "hexagon"])
    assert "data.classes: 'hexagon'" in message and "available: circle, square, triangle" in message
    assert "data.path: no such folder" in refused_spec(path=str(tmp_path / "missing"))
    assert "data.classes: '11' not in the built-in digits" in refused_spec(classes=[3, 11])


def test_limit_per_class_takes_a_seeded_sample(image_folder):
    first = TASK.load(options(path=str(image_folder), image_size=8, limit_per_class=7))
    again = TASK.load(options(path=str(image_folder), image_size=8, limit_per_class=7))
    assert np.bincount(first.labels).tolist() == [7, 7, 7]
    assert np.array_equal(first.images, again.images) and np.array_equal(first.labels, again.labels)


# --- the built-in digits and the split ----------------------------------------------------

def test_builtin_digits_subset_has_stratified_splits():
    chosen = options(classes=[0, 1, 2], image_size=32)
    loaded = TASK.load(chosen)
    assert loaded.class_names == ["0", "1", "2"]
    assert TASK.model_inputs(chosen)["num_classes"] == 3
    splits = TASK.splits(loaded, chosen)
    sizes = {name: len(getattr(splits, name)[1]) for name in ("train", "val", "test")}
    assert sizes == {"train": 1125, "val": 187, "test": 188}  # 1,500 digits: 75 / 12.5 / 12.5
    for name, expected in (("train", 375), ("val", 62.5), ("test", 62.5)):
        counts = torch.bincount(getattr(splits, name)[1], minlength=3)
        assert (counts - expected).abs().max() <= 0.5  # each class in the same proportion
    x, y = splits.train
    assert x.shape == (1125, 3, 32, 32) and x.dtype == torch.uint8 and y.dtype == torch.int64
    x = splits.batch_transform(x)  # what a trial does to each batch
    assert x.dtype == torch.float32
    assert np.array_equal(loaded.images[:, 0], loaded.images[:, 2])  # grey copied to 3 channels
    white = torch.tensor([(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)])
    assert torch.allclose(x.amax(dim=(0, 2, 3)), white, atol=1e-5)  # normalized as the report


def test_smoke_loads_a_small_subset():
    loaded = TASK.load(options(classes=[3, 5, 8], image_size=32), smoke=True)
    assert np.bincount(loaded.labels).tolist() == [50, 50, 50]


# --- the yardstick -------------------------------------------------------------------------

def test_the_pixel_yardstick_reads_colour(tmp_path):
    """Three classes of one brightness told apart by colour alone: red, green, blue with
    noise. Their first channel alone cannot tell green from blue; the yardstick reads all
    three and gets every test image right."""
    rng = np.random.default_rng(0)
    root = tmp_path / "colours"
    for name, colour in (("red", (200, 40, 40)), ("green", (40, 200, 40)), ("blue", (40, 40, 200))):
        (root / name).mkdir(parents=True)
        for i in range(16):
            noisy = np.clip(np.array(colour) + rng.normal(0, 30, (12, 12, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).save(root / name / f"{i}.png")
    chosen = options(path=str(root), image_size=16)
    loaded = TASK.load(chosen)
    assert pixel_features(loaded.images, grey=False).shape == (48, 3 * PIXEL_SIDE ** 2)
    assert TASK.baselines(loaded, chosen) == {"baseline_pixels_test_acc": 1.0, "baseline_pixels_test_f1": 1.0}


def test_the_pixel_yardstick_on_the_digits_of_the_image_spaces():
    chosen = options(classes=[3, 5, 8], image_size=32, limit_per_class=300)  # as the shipped spaces
    loaded = TASK.load(chosen)
    features = pixel_features(loaded.images, grey=True)
    assert features.shape == (900, PIXEL_SIDE ** 2)  # grey: one channel
    np.testing.assert_array_equal(pixel_features(loaded.images, grey=True, chunk=128), features)  # in chunks
    scores = TASK.baselines(loaded, chosen)
    assert sorted(scores) == ["baseline_pixels_test_acc", "baseline_pixels_test_f1"]
    assert 0.7 < scores["baseline_pixels_test_acc"] <= 1  # far above chance (1/3): a yardstick to beat
    assert 0.7 < scores["baseline_pixels_test_f1"] <= 1


# --- augmentation -------------------------------------------------------------------------

def test_augmentation_only_when_asked_and_only_for_training():
    chosen = {"classes": [0, 1, 2], "image_size": 32, "limit_per_class": 40}
    loaded = TASK.load(options(**chosen))
    plain = TASK.splits(loaded, options(**chosen))
    augmented = TASK.splits(loaded, options(**chosen, augment=True))
    assert plain.train_transform is None
    assert isinstance(augmented.train_transform, ReportAugmentation)
    for name in ("train", "val", "test"):  # the stored tensors are the same: only batches change
        assert torch.equal(getattr(plain, name)[0], getattr(augmented, name)[0])
    batch = augmented.batch_transform(augmented.train[0][:16]).contiguous(memory_format=torch.channels_last)
    torch.manual_seed(0)
    out = augmented.train_transform(batch)
    assert out.shape == batch.shape and out.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(out, batch)
    low = torch.tensor([-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]).view(1, 3, 1, 1)
    high = torch.tensor([(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]).view(1, 3, 1, 1)
    assert (out >= low - 1e-5).all() and (out <= high + 1e-5).all()  # still normalized pixels


def test_augmentation_draws_its_parameters_per_image():
    torch.manual_seed(0)
    images = torch.rand(1, 3, 16, 16).expand(64, -1, -1, -1).contiguous()
    out = ReportAugmentation(IMAGENET_MEAN, IMAGENET_STD).augment(images)
    distinct = {tuple(img.flatten().tolist()) for img in out}
    assert len(distinct) > 32  # a batch-level v2 transform would give one image 64 times


def test_augmentation_steps_match_torchvision_v2_image_by_image():
    torch.manual_seed(0)
    images = torch.rand(3, 3, 16, 16)
    degrees = torch.tensor([17.0, -12.5, 5.0])
    factors = torch.tensor([0.7, 1.3, 1.0])
    chosen = torch.tensor([True, False, True])
    tvf = v2.functional
    steps = [
        (rotate(images, degrees), lambda img, i: tvf.rotate(img, float(degrees[i]), fill=0)),
        (adjust_brightness(images, factors), lambda img, i: tvf.adjust_brightness(img, float(factors[i]))),
        (adjust_contrast(images, factors), lambda img, i: tvf.adjust_contrast(img, float(factors[i]))),
        (adjust_saturation(images, factors), lambda img, i: tvf.adjust_saturation(img, float(factors[i]))),
        (flip_where(images, chosen, -1), lambda img, i: tvf.horizontal_flip(img) if chosen[i] else img),
        (flip_where(images, chosen, -2), lambda img, i: tvf.vertical_flip(img) if chosen[i] else img),
    ]
    for batched, reference in steps:
        for i in range(len(images)):
            torch.testing.assert_close(batched[i], reference(images[i], i), atol=1e-6, rtol=0)


def test_loading_warns_about_nothing_on_clean_data(image_folder):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TASK.load(options(path=str(image_folder), image_size=16))


def test_classes_too_small_to_split_are_an_error(image_folder):
    with pytest.raises(SpecError, match="too few images for a stratified"):
        TASK.load(options(path=str(image_folder), image_size=8, limit_per_class=2))
