"""How a step trains (docs/algorithm.md section 1.3): nEpoch epochs, each one pass over the labeled set in shuffled
batches of nBatch, in a new order every epoch; the weights kept are those of the epoch with the highest validation
accuracy, and they are the ones tested.

The runs are experiment.run in this process on tiny made-up datasets with a one-layer model.
"""
import keras
import numpy as np
import pytest

from coded_images import coded_dataset, image_indices, one_layer_model, run_experiment
from data import initial_split
from test_protocol import scripted_model

SMALL = ["--nPool", "10", "--nQuery", "3", "--nSample", "10", "--nStep", "0"]


@pytest.fixture(scope="module")
def epochs(tmp_path_factory):
    """Return (the images of each batch a step trains on, its labeled set) for 10 labels, nBatch 4, nEpoch 3."""
    batches = []

    def recording_model(*args):
        model = one_layer_model(*args)
        train_step = model.train_step

        def recording_train_step(data):
            batches.append(image_indices(keras.ops.convert_to_numpy(data[0])))
            return train_step(data)

        model.train_step = recording_train_step
        return model

    with pytest.MonkeyPatch.context() as monkeypatch:
        state = run_experiment(monkeypatch, coded_dataset(100, 10, 2), recording_model, tmp_path_factory.mktemp("run"),
                               *SMALL, "--nInit", "10", "--nValid", "10", "--nBatch", "4", "--nEpoch", "3")
    return batches, state.labeled


def test_each_epoch_passes_over_the_labeled_set_once_in_shuffled_batches_of_nbatch(epochs):
    batches, labeled = epochs
    assert [len(batch) for batch in batches] == [4, 4, 2, 4, 4, 2, 4, 4, 2]  # 3 epochs of 10 labels, batches of 4
    for first in (0, 3, 6):
        order = np.concatenate(batches[first : first + 3])
        assert sorted(order) == sorted(labeled)  # every labeled image once per epoch
        assert order.tolist() != labeled.tolist()  # shuffled


def test_each_epoch_sees_the_labeled_set_in_an_order_of_its_own(epochs):
    batches, _ = epochs
    orders = {tuple(np.concatenate(batches[first : first + 3])) for first in (0, 3, 6)}
    assert len(orders) == 3  # as the original's Keras 2.3.1 did: a new permutation every epoch


def two_pixel_dataset():
    """Return a dataset of images of two pixels and labels 0, 1, where pixel 0 tells the
    label (as +1 or -1) on the 4 labeled images and pixel 1 on 18 of the 20 validation images and on 6 of the 8
    test images; elsewhere they tell the other label. Built around the split that repetition 1, seed 0 draws."""
    y = np.arange(100) % 2
    labeled, _, valid, _ = initial_split(y, 4, 20, 10, 2, np.random.RandomState(0))
    sign = 2.0 * y - 1
    X = np.zeros((100, 1, 2, 1), np.float32)
    X[labeled, 0, 0, 0], X[labeled, 0, 1, 0] = sign[labeled], -sign[labeled]
    X[valid, 0, 0, 0], X[valid, 0, 1, 0] = -sign[valid], sign[valid]
    X[valid[::10], 0, 1, 0] *= -1  # pixel 1 lies on 2 of the 20
    y_test = np.arange(8) % 2
    pixel_1 = (2.0 * y_test - 1) * [1, 1, 1, -1, 1, 1, 1, -1]  # tells the truth on 6 of 8
    X_test = np.stack([-pixel_1, pixel_1], axis=1).reshape(8, 1, 2, 1).astype(np.float32)
    return (X, y), (X_test, y_test), 2


def trusting(pixel, scale):
    """Dense weights that predict label 1 where ``pixel`` is positive, with logits of +-scale * pixel."""
    kernel = np.zeros((2, 2), np.float32)
    kernel[pixel] = [-scale, scale]
    return [kernel, np.zeros(2, np.float32)]


def test_the_tested_weights_are_those_of_the_best_validation_accuracy(tmp_path, monkeypatch):
    dataset = two_pixel_dataset()
    # epoch:                 1                 2                    3
    schedule = [trusting(0, 1.0), trusting(1, 10.0), [np.zeros((2, 2), np.float32), np.zeros(2, np.float32)]]
    # training accuracy       1.0               0.0                  0.5  (ties predict label 0)
    # validation accuracy     0.0               0.9                  0.5
    # validation loss         2.13              2.00                 0.69 (ln 2)
    # test accuracy           0.25              0.75                 0.5
    run_experiment(monkeypatch, dataset, scripted_model(schedule), tmp_path, *SMALL, "--nInit", "4", "--nValid", "20",
                   "--nEpoch", "3", "--nBatch", "2")
    assert (tmp_path / "mnist_SCNN" / "test_accs_001.txt").read_text() == "0.75000\n"  # epoch 2's weights
