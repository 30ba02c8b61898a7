"""The query strategies on hand-made arrays, without a model (and pool_arrays with one)."""
import numpy as np
import pytest

from errors import UserError
from ldm import estimate_ldm, select_ldms
from strategies import NEEDS, STRATEGIES, PoolArrays, get_strategy

N_POOL, N_QUERY = 60, 7


def make_arrays(seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, size=(N_POOL, 4))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    features = np.maximum(rng.normal(0.5, 1, size=(N_POOL, 6)), 0).astype(np.float32)
    return PoolArrays(
        n_pool=N_POOL, probabilities=probabilities, features=features,
        features_sample=np.maximum(rng.normal(0.5, 1, size=(40, 6)), 0).astype(np.float32),
        features_labeled=np.maximum(rng.normal(0.5, 1, size=(8, 6)), 0).astype(np.float32),
        kernel=rng.normal(size=(6, 4)).astype(np.float32), bias=np.zeros(4, dtype=np.float32),
        mc_probabilities=rng.dirichlet(np.ones(4), size=(5, N_POOL)))


def test_the_registry_has_every_strategy_of_the_comparison():
    assert list(STRATEGIES) == ["ldms", "ldm", "random", "entropy", "margin", "least_confidence", "coreset",
                                "badge", "bald"]
    with pytest.raises(UserError, match="unknown strategy 'bait'.*ldms, ldm, random"):
        get_strategy("bait")


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_each_strategy_returns_distinct_positions_deterministically(name):
    strategy = get_strategy(name)
    first = strategy(make_arrays(), N_QUERY, np.random.default_rng(3))
    again = strategy(make_arrays(), N_QUERY, np.random.default_rng(3))
    assert first.dtype == np.int64 and first.shape == (N_QUERY,)
    assert len(set(first.tolist())) == N_QUERY and first.min() >= 0 and first.max() < N_POOL
    np.testing.assert_array_equal(first, again)


def test_each_strategy_reads_only_what_it_declares():
    full = make_arrays()
    for name, needs in NEEDS.items():
        partial = PoolArrays(n_pool=N_POOL, **{field: getattr(full, field) for field in needs})
        assert len(get_strategy(name)(partial, N_QUERY, np.random.default_rng(0))) == N_QUERY


def test_random_differs_between_seeds_and_covers_the_pool():
    arrays = make_arrays()
    counts = np.zeros(N_POOL)
    for seed in range(300):
        counts[get_strategy("random")(arrays, N_QUERY, np.random.default_rng(seed))] += 1
    assert counts.min() > 0 and abs(counts.mean() - 300 * N_QUERY / N_POOL) < 1e-9
    assert counts.std() < 0.35 * counts.mean()  # roughly uniform (binomial spread is about 0.17)


def test_uncertainty_strategies_on_a_hand_made_softmax():
    probabilities = np.array([[0.97, 0.01, 0.01, 0.01],  # confident
                              [0.25, 0.25, 0.25, 0.25],  # uniform: highest entropy, smallest confidence
                              [0.49, 0.48, 0.02, 0.01],  # two-way tie: the smallest margin
                              [0.7, 0.1, 0.1, 0.1]])
    arrays = PoolArrays(n_pool=4, probabilities=probabilities)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(get_strategy("entropy")(arrays, 4, rng), [1, 3, 2, 0])  # 1.39, 0.94, 0.86, 0.17
    np.testing.assert_array_equal(get_strategy("least_confidence")(arrays, 2, rng), [1, 2])
    np.testing.assert_array_equal(get_strategy("margin")(arrays, 2, rng), [1, 2])  # margins 0 and 0.01
    np.testing.assert_array_equal(get_strategy("margin")(arrays, 4, rng), [1, 2, 3, 0])


def k_center_reference(pool, labeled, n_query):
    """Greedy k-center written out: each pick is the pool point whose nearest centre (labeled or picked so far)
    is farthest, by squared Euclidean distances summed term by term; the first such point among equals."""
    pool, centres = np.float64(pool), list(np.float64(labeled))
    picked = []
    for _ in range(n_query):
        best, best_distance = None, -1.0
        for i, point in enumerate(pool):
            nearest = min(((point - centre) ** 2).sum() for centre in centres)
            if i not in picked and nearest > best_distance:
                best, best_distance = i, nearest
        picked.append(best)
        centres.append(pool[best])
    return picked


def test_coreset_follows_greedy_k_center_at_every_pick():
    arrays = make_arrays()
    picked = get_strategy("coreset")(arrays, 20, np.random.default_rng(0))
    assert picked.tolist() == k_center_reference(arrays.features, arrays.features_labeled, 20)


def test_coreset_breaks_ties_by_the_first_position_and_takes_duplicates_last():
    grid = np.array([[x, y] for x in range(5) for y in range(5)], dtype=np.float32)  # integer squared distances
    pool = np.concatenate([grid, grid[[12, 0, 24, 7, 12]]])  # 30 points, 5 of them repeated
    arrays = PoolArrays(n_pool=30, features=pool, features_labeled=np.float32([[0, 0], [4, 4]]))
    picked = get_strategy("coreset")(arrays, 30, np.random.default_rng(0))
    expected = k_center_reference(pool, arrays.features_labeled, 30)
    assert expected[:3] == [4, 20, 12]  # (0, 4) and (4, 0) tie at 16 from the labeled points: the first one first
    assert picked.tolist() == expected
    assert sorted(picked.tolist()) == list(range(30))


def badge_reference(probabilities, features, n_query, rng):
    """BADGE written out: the gradient of the cross-entropy at the predicted label with respect to the last
    kernel, outer(h, p - onehot), built for every sample; k-means++ seeding on them from the largest norm,
    each next pick drawn with probability proportional to the squared distance to its nearest pick."""
    embeddings = []
    for p, h in zip(np.float64(probabilities), np.float64(features)):
        onehot = np.zeros(len(p))
        onehot[np.argmax(p)] = 1
        embeddings.append(np.outer(h, p - onehot).ravel())
    embeddings = np.array(embeddings)
    picked = [int(np.argmax([(e**2).sum() for e in embeddings]))]
    while len(picked) < n_query:
        squared = np.array([min(((e - embeddings[c]) ** 2).sum() for c in picked) for e in embeddings])
        threshold = rng.random() * squared.sum()
        picked.append(int(np.argmax(np.cumsum(squared) > threshold)))  # the first running sum past the draw
    return picked


@pytest.mark.parametrize("seed", range(5))
def test_badge_is_k_means_plus_plus_on_the_explicit_gradient_embeddings_at_every_pick(seed):
    arrays = make_arrays(seed)
    picked = get_strategy("badge")(arrays, 20, np.random.default_rng(seed))
    expected = badge_reference(arrays.probabilities, arrays.features, 20, np.random.default_rng(seed))
    assert picked.tolist() == expected


def test_ldm_picks_the_smallest_ldm_and_ldms_is_the_seeded_selection():
    arrays = make_arrays()
    values = estimate_ldm(arrays.features, arrays.features_sample, arrays.kernel, arrays.bias,
                          rng=np.random.default_rng(5))
    picked = get_strategy("ldm")(arrays, N_QUERY, np.random.default_rng(5))
    np.testing.assert_array_equal(picked, np.argsort(values, kind="stable")[:N_QUERY])
    seeded = get_strategy("ldms")(arrays, N_QUERY, np.random.default_rng(5))
    np.testing.assert_array_equal(seeded, select_ldms(arrays.features, arrays.features_sample, arrays.kernel,
                                                      arrays.bias, N_QUERY, rng=np.random.default_rng(5)))
    assert "estimation" in arrays.timings and "seeding" in arrays.timings


def test_bald_picks_where_the_dropout_passes_disagree():
    agree = np.tile([[0.4, 0.3, 0.2, 0.1]], (6, 1))
    mc = np.stack([agree.copy() for _ in range(4)])
    mc[:, 2] = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]  # confident passes that disagree
    mc[:2, 4], mc[2:, 4] = [0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1]  # some disagreement
    picked = get_strategy("bald")(PoolArrays(n_pool=6, mc_probabilities=mc), 2, np.random.default_rng(0))
    np.testing.assert_array_equal(picked, [2, 4])


def test_pool_arrays_asks_the_model_for_what_is_needed():
    from models import get_model, pool_arrays

    model = get_model("SCNN", (28, 28, 1), 10)
    X = np.random.default_rng(0).uniform(size=(12, 28, 28, 1)).astype(np.float32)
    arrays = pool_arrays(model, NEEDS["coreset"], X, np.arange(8), np.arange(8, 10), np.arange(10, 12))
    assert arrays.features.shape == (8, 128) and arrays.features_labeled.shape == (2, 128)
    assert arrays.features_sample is None and arrays.mc_probabilities is None
    np.testing.assert_allclose(arrays.probabilities, model.predict(X[:8], verbose=0), atol=1e-6)
    arrays = pool_arrays(model, NEEDS["bald"], X, np.arange(8), n_mc=3)
    assert arrays.mc_probabilities.shape == (3, 8, 10) and arrays.features is None
    assert not np.allclose(arrays.mc_probabilities[0], arrays.mc_probabilities[1])  # dropout is on
    np.testing.assert_allclose(arrays.mc_probabilities.sum(axis=2), 1, atol=1e-5)


def test_query_ldms_on_a_keras_model_is_select_ldms_on_its_arrays():
    from models import features_and_head, get_model, query_ldms

    model = get_model("SCNN", (28, 28, 1), 10)
    X = np.random.default_rng(1).uniform(size=(90, 28, 28, 1)).astype(np.float32)
    timings = {}
    picked = query_ldms(model, X[:60], X[60:], 6, rng=4, timings=timings)
    (pool, sample), kernel, bias = features_and_head(model, X[:60], X[60:])
    np.testing.assert_array_equal(picked, select_ldms(pool, sample, kernel, bias, 6, rng=4))
    assert len(set(picked.tolist())) == 6 and set(timings) == {"features", "estimation", "seeding"}
