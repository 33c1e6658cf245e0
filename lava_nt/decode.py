"""Decoding a network's output into class scores and predictions (numpy or torch).

The one public way lava-nt turns outputs into class decisions: training and evaluation, the
engine-agreement report, ``lava-nt evaluate`` and the examples decode with it.

Population code (a network without readout): the output layer's ``n_out`` neurons split into
``n_classes`` consecutive populations of ``n_out // n_classes`` neurons (class ``k`` owns neurons
``k * pop .. (k + 1) * pop - 1``). A class's score is its population's spike count summed over
time, and the prediction is the class with the highest score.

Readout (a network that ends in a :class:`~lava_nt.spec.readout.ReadoutSpec`): unit ``k``'s value
(:func:`lava_nt.network.readout_values`, the readout's reduction of its voltage trace) is class
``k``'s score; :func:`predict` of those values is the prediction.

Shapes:
    * spikes ``[T, N, n_out]`` (time first; any batch dimensions between, e.g. ``[T, K, N, n_out]``)
      -> :func:`population_counts` -> class scores ``[N, n_classes]``;
    * per-neuron spike counts ``[N, n_out]`` (already summed over time) -> :func:`class_counts`
      -> class scores ``[N, n_classes]``;
    * class scores ``[N, n_classes]`` (counts or readout values) -> :func:`predict` -> ``[N]``.

Tie rule: :func:`predict` takes the lowest class index among equal highest scores (as
``numpy.argmax`` and ``torch.argmax`` do), so a sample without any output spike is class 0.

Every function takes a numpy array (or anything ``numpy.asarray`` accepts) or a torch tensor and
returns the same kind (int64 predictions; counts keep the input's dtype, as ``sum`` does).

Example::

    >>> import numpy as np
    >>> from lava_nt.decode import population_counts, predict, predictions
    >>> spikes = np.zeros((3, 2, 4))          # T=3 steps, N=2 samples, 2 classes x 2 neurons
    >>> spikes[:, 0, 2] = 1                   # sample 0: class 1's first neuron fires 3 times
    >>> spikes[0, 1, [0, 3]] = 1              # sample 1: one spike in each class (a tie)
    >>> population_counts(spikes, 2)
    array([[0., 3.],
           [1., 1.]])
    >>> predictions(spikes, 2)                # the tie goes to the lower class
    array([1, 0])
    >>> predict(np.array([[0.2, 0.7, 0.1]]))  # readout values: one per class
    array([1])
"""

from __future__ import annotations

import numbers

import numpy as np

from lava_nt.spec.readout import reduce_readout
from lava_nt.spec.validation import ParameterError

__all__ = [
    "check_labels",
    "class_counts",
    "output_classes",
    "output_predictions",
    "output_scores",
    "population_counts",
    "predict",
    "predictions",
]


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _as_array(x, where: str):
    """``x`` as a torch tensor (kept) or a numeric numpy array."""
    if _is_torch(x):
        return x
    a = np.asarray(x)
    if not (a.dtype == np.bool_ or np.issubdtype(a.dtype, np.number)):
        raise ParameterError(f"{where}: expected numbers, got dtype {a.dtype}")
    return a


def _check_classes(n_classes, n_out: int, where: str) -> int:
    if (
        isinstance(n_classes, bool)
        or not isinstance(n_classes, numbers.Integral)
        or int(n_classes) < 1
    ):
        raise ParameterError(f"{where}: n_classes must be an integer >= 1, got {n_classes!r}")
    if n_out % int(n_classes):
        raise ParameterError(
            f"{where}: population coding: {n_out} output neurons do not split into "
            f"{int(n_classes)} classes"
        )
    return int(n_classes)


def class_counts(counts, n_classes: int):
    """Class scores ``[..., n_classes]`` of per-neuron spike counts ``[..., n_out]``: the sum of
    each class population's counts (``n_out`` must be a multiple of ``n_classes``)."""
    counts = _as_array(counts, "class_counts")
    if counts.ndim < 1:
        raise ParameterError("class_counts: counts must be [..., n_out], got a scalar")
    n_out = int(counts.shape[-1])
    n_classes = _check_classes(n_classes, n_out, "class_counts")
    return counts.reshape(*counts.shape[:-1], n_classes, n_out // n_classes).sum(-1)


def population_counts(spikes, n_classes: int):
    """Class scores ``[..., n_classes]`` of output spikes ``[T, ..., n_out]``: each class
    population's spikes summed over time (axis 0) and over its neurons."""
    spikes = _as_array(spikes, "population_counts")
    if spikes.ndim < 2:
        raise ParameterError(
            f"population_counts: spikes must be [T, ..., n_out] (time first), got shape "
            f"{tuple(spikes.shape)}"
        )
    n_out = int(spikes.shape[-1])
    n_classes = _check_classes(n_classes, n_out, "population_counts")
    counts = spikes.sum(0)
    return counts.reshape(*counts.shape[:-1], n_classes, n_out // n_classes).sum(-1)


def predict(scores):
    """Predicted classes ``[...]`` of class scores ``[..., n_classes]`` (population counts or
    readout values): the argmax over the last axis, the lowest class index on a tie."""
    scores = _as_array(scores, "predict")
    if scores.ndim < 1 or scores.shape[-1] < 1:
        raise ParameterError(
            f"predict: scores must be [..., n_classes] with n_classes >= 1, got shape "
            f"{tuple(scores.shape)}"
        )
    if _is_torch(scores):
        return scores.argmax(-1)
    return np.argmax(scores, axis=-1).astype(np.int64, copy=False)


def predictions(spikes, n_classes: int):
    """Predicted classes ``[N]`` of output spikes ``[T, N, n_out]`` (population code):
    ``predict(population_counts(spikes, n_classes))``."""
    return predict(population_counts(spikes, n_classes))


def check_labels(y, n_classes: int, where: str) -> None:
    """Labels ``y`` (numpy or torch, integers) must lie in ``[0, n_classes)``: a label outside
    would be compared with predictions that can never equal it, and the accuracy would be
    silently wrong. The error names ``where``, the offending label and the class count.

    Shapes and dtypes are the caller's to check; an empty or floating-point ``y`` passes here."""
    n_classes = int(n_classes)
    if _is_torch(y):
        if y.numel() == 0 or y.is_floating_point():
            return
        lo, hi = int(y.min()), int(y.max())
    else:
        a = np.asarray(y)
        if a.size == 0 or not np.issubdtype(a.dtype, np.integer):
            return
        lo, hi = int(a.min()), int(a.max())
    if lo >= 0 and hi < n_classes:
        return
    bad = lo if lo < 0 else hi
    raise ParameterError(
        f"{where}: label {bad} is outside the model's {n_classes} classes [0, {n_classes - 1}]; "
        "a model for more classes needs a larger output (build_network(..., n_classes=N) or "
        "lava-nt train --classes N)"
    )


def output_classes(given, known, where: str) -> int:
    """The class count of a population code: ``given`` (an explicit argument), else ``known``
    (what the model records), else an error naming ``where`` and the argument to pass. Never a
    silent default: a wrong count decodes every prediction wrongly."""
    if given is not None and known is not None and int(given) != int(known):
        raise ParameterError(f"{where}: n_classes={given} but the model codes {known} classes")
    n = given if given is not None else known
    if n is None:
        raise ParameterError(
            f"{where}: the model does not record its number of classes; pass n_classes=N "
            "(lava-nt commands: --n-classes N)"
        )
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or int(n) < 1:
        raise ParameterError(f"{where}: n_classes must be an integer >= 1, got {n!r}")
    return int(n)


def output_scores(output, n_classes: int, reduce: str | None = None):
    """Class scores ``[N, n_classes]`` of a network's output ``[T, N, n_out]``
    (:attr:`lava_nt.result.RunResult.output`): its population spike counts, or, for a network
    that ends in a readout, the readout's voltage trace reduced over time (``reduce``: the
    readout's ``"last"``, ``"mean"`` or ``"max"``; one unit per class)."""
    if reduce is None:
        return population_counts(output, n_classes)
    output = _as_array(output, "output_scores")
    if output.ndim < 2:
        raise ParameterError(
            f"output_scores: a readout trace is [T, ..., n], got shape {tuple(output.shape)}"
        )
    n = _check_classes(n_classes, int(output.shape[-1]), "output_scores")
    if n != int(output.shape[-1]):
        raise ParameterError(
            f"output_scores: a readout has one unit per class; {output.shape[-1]} units, "
            f"n_classes={n}"
        )
    return reduce_readout(output, reduce)


def output_predictions(output, n_classes: int, reduce: str | None = None):
    """Predicted classes ``[N]`` of a network's output: ``predict(output_scores(...))``."""
    return predict(output_scores(output, n_classes, reduce))
