"""Which set each quantity of a step is computed on (docs/algorithm.md section 1): the model is trained on the
labeled set, the epoch is chosen on the validation set, the reported accuracy is the test set's; the strategy sees
the pool, the sampling set S and the labeled set each as itself; LDM measures disagreement on S and seeds on the
pool; what gets labeled is the pool's picked images.

The runs are experiment.run in this process on 240 training images that carry their own index (coded_images), so
every array that reaches a computation is read back as the indices it holds and compared with the protocol's draws.
"""
import numpy as np

import ldm
import strategies
from coded_images import coded_dataset, image_indices, one_layer_model, run_experiment
from data import initial_split

N_TRAIN, N_TEST, N_CLASSES = 240, 30, 3
SETTINGS = ["--nInit", "6", "--nValid", "12", "--nPool", "30", "--nQuery", "4", "--nSample", "40", "--nEpoch", "2",
            "--nBatch", "4"]


def protocol_sets(y):
    """The initial labeled, unlabeled, validation and sampling sets of repetition 1, seed 0, and its generator."""
    rng = np.random.RandomState(0)
    return (*initial_split(y, 6, 12, 40, N_CLASSES, rng), rng)


def recording_model(calls):
    """Return a get_model whose models append to ``calls`` a dict each: what reaches each of its fit calls (one an
    epoch), their validation data, and evaluate."""
    def get_model(network, input_shape, n_classes):
        model = one_layer_model(network, input_shape, n_classes)
        fit, evaluate = model.fit, model.evaluate
        calls.append({"fits": []})

        def recording_fit(x, y, validation_data, **kwargs):
            calls[-1]["fits"].append({"trained on": image_indices(x), "training labels": y,
                                      "validated on": image_indices(validation_data[0]),
                                      "validation labels": validation_data[1]})
            return fit(x, y, validation_data=validation_data, **kwargs)

        def recording_evaluate(x, y, **kwargs):
            calls[-1].update({"tested on": image_indices(x), "test labels": y})
            return evaluate(x, y, **kwargs)

        model.fit, model.evaluate = recording_fit, recording_evaluate
        return model

    return get_model


def test_training_selection_testing_and_every_query_array_use_their_own_set(tmp_path, monkeypatch):
    dataset = coded_dataset(N_TRAIN, N_TEST, N_CLASSES)
    (_, y), (_, y_test), _ = dataset
    calls, queries = [], []

    def every_fifth(arrays, n_query, rng):  # records what it is given, picks pool positions 0, 5, 10, 15
        queries.append({"pool": image_indices(arrays.features), "sample": image_indices(arrays.features_sample),
                        "labeled": image_indices(arrays.features_labeled), "probabilities": arrays.probabilities,
                        "logits": arrays.features @ arrays.kernel + arrays.bias})
        return np.arange(0, 5 * n_query, 5)

    monkeypatch.setitem(strategies.STRATEGIES, "every_fifth", every_fifth)
    monkeypatch.setitem(strategies.NEEDS, "every_fifth", {"features", "features_sample", "features_labeled",
                                                          "probabilities", "kernel", "bias"})
    state = run_experiment(monkeypatch, dataset, recording_model(calls), tmp_path, *SETTINGS, "--nStep", "2",
                           "--strategy", "every_fifth")

    labeled, unlabeled, valid, sample, rng = protocol_sets(y)
    assert np.bincount(y[labeled]).tolist() == [2, 2, 2] and np.bincount(y[valid]).tolist() == [4, 4, 4]
    assert len(calls) == 3 and len(queries) == 2  # 3 models; the last step makes no query
    for step, call in enumerate(calls):
        assert len(call["fits"]) == 2  # one fit call an epoch, each on the labeled set in an order of its own
        for fit in call["fits"]:
            np.testing.assert_array_equal(np.sort(fit["trained on"]), np.sort(labeled))  # 6, then 10, then 14 labels
            np.testing.assert_array_equal(fit["training labels"], y[fit["trained on"]])
            np.testing.assert_array_equal(fit["validated on"], valid)  # the same 12 at every step
            np.testing.assert_array_equal(fit["validation labels"], y[valid])
        np.testing.assert_array_equal(call["tested on"], np.arange(240, 270))  # the whole test set, in order
        np.testing.assert_array_equal(call["test labels"], y_test)
        if step == 2:
            break
        rng.shuffle(unlabeled)
        pool, query = unlabeled[:30], queries[step]
        np.testing.assert_array_equal(query["pool"], pool)
        np.testing.assert_array_equal(query["sample"], sample)  # S: drawn once, from the whole training set
        np.testing.assert_array_equal(query["labeled"], labeled)
        softmax = np.exp(query["logits"]) / np.exp(query["logits"]).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(query["probabilities"], softmax, rtol=1e-5)  # the pool's, from the same model
        labeled = np.concatenate([labeled, pool[[0, 5, 10, 15]]])
        unlabeled = np.setdiff1d(unlabeled, labeled)
    np.testing.assert_array_equal(state.labeled, labeled)
    assert not set(labeled) & set(valid)  # validation images are never labeled


def test_ldms_measures_disagreement_on_the_sampling_set_and_seeds_on_the_pool(tmp_path, monkeypatch):
    dataset = coded_dataset(N_TRAIN, N_TEST, N_CLASSES)
    estimated, seeded = [], []
    estimate_ldm, ldm_seeding = ldm.estimate_ldm, ldm.ldm_seeding

    def recording_estimate(features_pool, features_sample, kernel, bias, **kwargs):
        estimated.append({"pool": image_indices(features_pool), "sample": image_indices(features_sample)})
        return estimate_ldm(features_pool, features_sample, kernel, bias, **kwargs)

    def recording_seeding(ldm_values, features, n_query, **kwargs):
        picked = ldm_seeding(ldm_values, features, n_query, **kwargs)
        seeded.append({"ldm": len(ldm_values), "features of": image_indices(features), "picked": picked})
        return picked

    monkeypatch.setattr(ldm, "estimate_ldm", recording_estimate)
    monkeypatch.setattr(ldm, "ldm_seeding", recording_seeding)
    state = run_experiment(monkeypatch, dataset, one_layer_model, tmp_path, *SETTINGS, "--nStep", "1")

    labeled, unlabeled, _, sample, rng = protocol_sets(dataset[0][1])
    rng.shuffle(unlabeled)
    pool = unlabeled[:30]
    assert len(estimated) == len(seeded) == 1
    np.testing.assert_array_equal(estimated[0]["pool"], pool)
    np.testing.assert_array_equal(estimated[0]["sample"], sample)  # rho: the share of S whose prediction flips
    assert seeded[0]["ldm"] == 30
    np.testing.assert_array_equal(seeded[0]["features of"], pool)  # cosine distances between pool images
    np.testing.assert_array_equal(state.labeled, np.concatenate([labeled, pool[seeded[0]["picked"]]]))


def test_the_sampling_set_is_drawn_from_the_whole_training_set():
    (_, y), _, _ = coded_dataset(N_TRAIN, N_TEST, N_CLASSES)
    sample = initial_split(y, 6, 12, 240, N_CLASSES, np.random.RandomState(0))[3]
    assert sorted(sample) == list(range(240))  # labeled and validation images too, not the 222 unlabeled only
