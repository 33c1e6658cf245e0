"""lava_nt.decode: population counts and predictions, the same on numpy and torch."""

import numpy as np
import pytest
import torch

from lava_nt.decode import class_counts, population_counts, predict, predictions
from lava_nt.spec.validation import ParameterError


def _spikes(seed=0, T=7, N=11, n_out=12):
    return (np.random.default_rng(seed).random((T, N, n_out)) < 0.3).astype(np.float64)


@pytest.mark.parametrize("n_classes", [1, 2, 3, 4, 12])
def test_numpy_equals_torch(n_classes):
    x = _spikes()
    counts_np = population_counts(x, n_classes)
    counts_t = population_counts(torch.as_tensor(x), n_classes)
    assert isinstance(counts_t, torch.Tensor) and counts_np.shape == (11, n_classes)
    np.testing.assert_array_equal(counts_np, counts_t.numpy())
    pred_np, pred_t = predictions(x, n_classes), predictions(torch.as_tensor(x), n_classes)
    assert pred_np.dtype == np.int64 and pred_t.dtype == torch.int64
    np.testing.assert_array_equal(pred_np, pred_t.numpy())


def test_counts_are_population_sums():
    x = _spikes(1)
    counts = population_counts(x, 3)
    pop = x.sum(0).reshape(11, 3, 4)
    for c in range(3):
        np.testing.assert_array_equal(counts[:, c], pop[:, c].sum(-1))
    np.testing.assert_array_equal(class_counts(x.sum(0), 3), counts)


def test_extra_batch_dimensions():
    x = np.random.default_rng(2).random((5, 3, 4, 6)) < 0.5  # [T, K, N, n_out]
    counts = population_counts(x.astype(float), 2)
    assert counts.shape == (3, 4, 2)
    np.testing.assert_array_equal(counts[1], population_counts(x[:, 1].astype(float), 2))


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_tie_goes_to_the_lowest_class(lib):
    scores = np.array([[2.0, 2.0, 1.0], [0.0, 3.0, 3.0], [0.0, 0.0, 0.0], [1.0, 0.0, 1.0]])
    if lib == "torch":
        scores = torch.as_tensor(scores)
    got = predict(scores)
    assert [int(v) for v in got] == [0, 1, 0, 0]
    silent = np.zeros((4, 2, 6))  # no output spike at all: class 0
    assert list(predictions(silent if lib == "numpy" else torch.as_tensor(silent), 3)) == [0, 0]


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_shape_errors(lib):
    conv = (lambda a: a) if lib == "numpy" else torch.as_tensor
    with pytest.raises(ParameterError, match="do not split into 5 classes"):
        population_counts(conv(_spikes()), 5)
    with pytest.raises(ParameterError, match="time first"):
        population_counts(conv(np.zeros(12)), 2)
    with pytest.raises(ParameterError, match="n_classes must be an integer >= 1"):
        predictions(conv(_spikes()), 0)
    with pytest.raises(ParameterError, match="n_classes must be an integer >= 1"):
        class_counts(conv(np.zeros((3, 4))), True)
    with pytest.raises(ParameterError, match="scores must be"):
        predict(conv(np.zeros((3, 0))))


def test_non_numeric_input_is_refused():
    with pytest.raises(ParameterError, match="expected numbers"):
        predict(np.array([["a", "b"]]))


def test_old_names_are_the_decode_functions():
    from lava_nt.converters import agreement
    from lava_nt.training import population_counts as training_counts

    assert agreement.predictions is predictions
    assert training_counts is population_counts


def test_check_labels_numpy_and_torch():
    from lava_nt.decode import check_labels

    check_labels(np.array([0, 2, 1]), 3, "here")
    check_labels(torch.tensor([0, 2, 1]), 3, "here")
    for y in (np.array([0, 3]), torch.tensor([0, 3])):
        with pytest.raises(ValueError, match="here: label 3 is outside the model's 3 classes"):
            check_labels(y, 3, "here")
    with pytest.raises(ValueError, match="label -1"):
        check_labels(np.array([-1, 0]), 3, "here")
    check_labels(np.array([], dtype=np.int64), 3, "here")  # empty: nothing to check


def test_output_classes_never_defaults():
    from lava_nt.decode import output_classes

    assert output_classes(None, 3, "w") == 3
    assert output_classes(3, None, "w") == 3
    with pytest.raises(ValueError, match="w: the model does not record its number of classes"):
        output_classes(None, None, "w")
    with pytest.raises(ValueError, match="n_classes=2 but the model codes 3"):
        output_classes(2, 3, "w")
    with pytest.raises(ValueError, match="integer >= 1"):
        output_classes(0, None, "w")


def test_output_scores_of_a_readout_trace_and_of_spikes():
    from lava_nt.decode import output_predictions, output_scores

    trace = np.zeros((4, 2, 3))
    trace[:, 0, 1] = [1, 2, 3, 0]  # unit 1 peaks early, ends at 0
    trace[-1, 0, 2] = 1.0
    trace[:, 1, 0] = 5.0
    assert output_predictions(trace, 3, "last").tolist() == [2, 0]
    assert output_predictions(trace, 3, "max").tolist() == [1, 0]
    assert output_predictions(torch.as_tensor(trace), 3, "mean").tolist() == [1, 0]
    spikes = np.zeros((4, 2, 6))
    spikes[:, 0, 4] = 1
    np.testing.assert_array_equal(output_scores(spikes, 3), population_counts(spikes, 3))
    with pytest.raises(ParameterError, match="one unit per class"):
        output_scores(np.zeros((4, 2, 6)), 3, "last")


def test_data_inputs_graded_and_spikes(tmp_path):
    from lava_nt.data import DataError, load_data

    np.savez(tmp_path / "g.npz", x=np.array([[0.25, 1.0], [0.0, 0.5]]), T=np.array(3))
    d = load_data(tmp_path / "g.npz")
    g = d.inputs(graded=True)
    assert g.shape == (3, 2, 2) and g[2, 0, 0] == 0.25
    with pytest.raises(DataError, match="graded values"):
        d.inputs(graded=False)
