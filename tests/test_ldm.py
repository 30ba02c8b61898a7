"""The LDM estimator and the LDM-S seeding (docs/algorithm.md sections 2-3), on arrays, without a model."""
import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from ldm import SIGMAS, _reach, _Rows, estimate_ldm, ldm_draws, ldm_seeding, seeding_weights
from reference import literal_ldm, literal_seeding


def clustered_problem(seed, n_pool=300, n_sample=300, dim=16, n_classes=4):
    """Class-clustered non-negative features and a linear head that roughly separates them."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 2, size=(n_classes, dim))
    labels = rng.integers(n_classes, size=n_pool + n_sample)
    features = np.maximum(centres[labels] + rng.normal(0, 0.8, size=(len(labels), dim)), 0).astype(np.float32)
    kernel = (centres - centres.mean(0)).T.astype(np.float32)
    bias = np.zeros(n_classes, dtype=np.float32)
    return features[:n_pool], features[n_pool:], kernel, bias


def test_sigma_grid_is_the_paper_grid():
    assert len(SIGMAS) == 51
    assert SIGMAS[0] == pytest.approx(1e-5) and SIGMAS[-1] == pytest.approx(1.0)
    assert np.allclose(np.log10(SIGMAS), -5 + 0.1 * np.arange(51))


def total_draws(*args, **kwargs):
    """The number of perturbation draws the estimator used, and its final values."""
    *_, (levels, draws, ldm) = ldm_draws(*args, **kwargs)
    return draws, ldm


@pytest.mark.parametrize("max_chunk", [1, 7, 64, 256])
def test_estimator_matches_the_literal_algorithm_for_any_chunk_size(max_chunk):
    pool, sample, kernel, bias = clustered_problem(0)
    ldm = estimate_ldm(pool, sample, kernel, bias, rng=7, max_chunk=max_chunk)
    expected, history = literal_ldm(pool, sample, kernel, bias, np.random.default_rng(7))
    assert ldm.dtype == np.float32 and ldm.shape == (len(pool),)
    np.testing.assert_array_equal(ldm, expected)
    draws, _ = total_draws(pool, sample, kernel, bias, rng=7, max_chunk=max_chunk)
    assert draws == sum(len(flags) for flags in history)
    assert len(np.unique(ldm)) > 10  # the problem is not trivial: many different LDM values


def test_the_literal_oracle_follows_the_stop_rule():
    pool, sample, kernel, bias = clustered_problem(0)
    _, history = literal_ldm(pool, sample, kernel, bias, np.random.default_rng(7))
    # every sigma ends on exactly stop_cond draws that lowered nothing, after no earlier such run
    for flags in history:
        assert flags[-10:] == [False] * 10
        runs = "".join("x" if lowered else "." for lowered in flags[:-10])
        assert "." * 10 not in runs
    assert sum(len(flags) for flags in history) > 51 * 10  # some levels needed more than 10 draws


def test_a_sample_that_never_flips_keeps_1_and_each_sigma_takes_exactly_stop_cond_draws():
    rng_data = np.random.default_rng(1)
    pool = np.abs(rng_data.normal(size=(50, 4))).astype(np.float32) + 5
    kernel = np.array([[1, -1]] * 4, dtype=np.float32)  # class 0 wins by a margin of about 40
    bias = np.zeros(2, dtype=np.float32)
    arguments = (pool, pool, kernel, bias)
    ldm = estimate_ldm(*arguments, rng=3, stop_cond=7, sigmas=[1e-5, 1e-3, 1e-1])
    np.testing.assert_array_equal(ldm, np.ones(50, dtype=np.float32))
    draws, _ = total_draws(*arguments, rng=3, stop_cond=7, sigmas=[1e-5, 1e-3, 1e-1])
    assert draws == 3 * 7


def test_ldm_is_non_increasing_in_the_number_of_draws():
    pool, sample, kernel, bias = clustered_problem(2)
    sigma = [0.3]  # one level, so more stop_cond means the same draws and then more
    values = [estimate_ldm(pool, sample, kernel, bias, rng=5, stop_cond=k, sigmas=sigma) for k in (1, 3, 10, 30)]
    for fewer, more in zip(values, values[1:]):
        assert np.all(more <= fewer)
    assert np.any(values[-1] < values[0])


def test_every_ldm_is_a_fraction_of_the_sampling_set():
    pool, sample, kernel, bias = clustered_problem(3, n_sample=173)
    ldm = estimate_ldm(pool, sample, kernel, bias, rng=0)
    counts = ldm.astype(np.float64) * 173
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-3)
    assert np.all((ldm >= 0) & (ldm <= 1))


def test_samples_closer_to_the_boundary_get_smaller_ldm():
    rng = np.random.default_rng(4)
    points = rng.uniform(-1, 1, size=(600, 2)).astype(np.float32)
    kernel = np.array([[1.0, -1.0], [0.0, 0.0]], dtype=np.float32)  # the boundary is x0 = 0
    bias = np.zeros(2, dtype=np.float32)
    ldm = estimate_ldm(points[:300], points[300:], kernel, bias, rng=0)
    correlation = spearmanr(ldm, np.abs(points[:300, 0])).statistic
    assert correlation > 0.8


def test_gamma_on_a_hand_made_case():
    sorted_ldm = np.array([0.1, 0.2, 0.3, 0.5, 0.9])
    gamma = seeding_weights(sorted_ldm, 2)  # l_q = 0.3
    tail = np.array([1.0, math.exp(-0.2 / 0.3), math.exp(-0.6 / 0.3)])
    tail *= 2 / tail.sum()  # 1.21304, 0.62279, 0.16417 before clipping
    np.testing.assert_allclose(gamma, [1, 1, 1, tail[1], tail[2]], rtol=1e-12)
    np.testing.assert_allclose(gamma, [1, 1, 1, 0.622795, 0.164167], atol=1e-6)


def test_gamma_when_l_q_is_zero_uses_the_smallest_positive_ldm():
    gamma = seeding_weights(np.array([0.0, 0.0, 0.0, 0.25, 0.5]), 2)  # l_q = 0.25
    scale = 2 / (2 + math.exp(-1))
    np.testing.assert_allclose(gamma, [1, 1, scale, scale, scale * math.exp(-1)], rtol=1e-12)
    np.testing.assert_allclose(seeding_weights(np.zeros(6), 2), [1, 1, 0.5, 0.5, 0.5, 0.5])


def test_seeding_picks_the_smallest_ldm_first_and_distinct_positions():
    pool, _, _, _ = clustered_problem(5, n_pool=400)
    ldm = np.random.default_rng(0).permutation(400).astype(np.float32) / 400
    for seed in range(5):
        chosen = ldm_seeding(ldm, pool, 40, rng=seed)
        assert chosen.dtype == np.int64 and chosen.shape == (40,)
        assert chosen[0] == np.argmin(ldm)
        assert len(set(chosen.tolist())) == 40 and chosen.min() >= 0 and chosen.max() < 400
    np.testing.assert_array_equal(ldm_seeding(ldm, pool, 40, rng=9), ldm_seeding(ldm, pool, 40, rng=9))


def test_seeding_with_many_exact_duplicates():
    rng = np.random.default_rng(6)
    groups = rng.uniform(0.5, 1, size=(5, 8)).astype(np.float32)
    group_of = np.repeat(np.arange(5), 20)
    features = groups[group_of]
    ldm = rng.permutation(100).astype(np.float32) / 100
    chosen = ldm_seeding(ldm, features, 5, rng=0)
    assert sorted(group_of[chosen]) == [0, 1, 2, 3, 4]  # a duplicate of a chosen sample has weight 0
    chosen = ldm_seeding(ldm, features, 8, rng=0)  # more queries than distinct vectors
    assert len(set(chosen.tolist())) == 8
    assert sorted(group_of[chosen[:5]]) == [0, 1, 2, 3, 4]
    rest = [i for i in np.argsort(ldm, kind="stable") if i not in set(chosen[:5].tolist())][:3]
    np.testing.assert_array_equal(chosen[5:], rest)  # then the smallest LDM not chosen yet


def test_second_pick_follows_the_algorithm_distribution():
    features = np.array([[1, 0], [0, 1], [1, 1], [1, 0.2], [0.3, 1]], dtype=np.float32)
    ldm = np.array([0.05, 0.1, 0.2, 0.3, 0.4])
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    distance = 1 - unit @ unit[0]
    distance[distance < 1e-5] = 0
    gamma = seeding_weights(ldm, 2)  # ldm is already in ascending order
    expected = (gamma * distance) ** 2
    expected /= expected.sum()
    seconds = [ldm_seeding(ldm, features, 2, rng=seed)[1] for seed in range(3000)]
    frequency = np.bincount(seconds, minlength=5) / 3000
    assert frequency[0] == 0
    np.testing.assert_allclose(frequency, expected, atol=0.03)


def test_seeding_chooses_each_sample_as_often_as_the_literal_algorithm():
    pool, _, _, _ = clustered_problem(8, n_pool=40, dim=6)
    ldm = np.random.default_rng(1).integers(0, 40, size=40).astype(np.float32) / 40
    seeds = range(400)
    fast = np.zeros(40)
    literal = np.zeros(40)
    for seed in seeds:
        fast[ldm_seeding(ldm, pool, 6, rng=seed)] += 1
        literal[literal_seeding(ldm, pool, 6, np.random.default_rng(10_000 + seed))] += 1
    fast, literal = fast / len(seeds), literal / len(seeds)
    assert fast.sum() == pytest.approx(6) and literal.sum() == pytest.approx(6)
    assert fast[np.argmin(ldm)] == literal[np.argmin(ldm)] == 1
    # each frequency is a mean of 400 Bernoulli draws: the two agree within 4 standard errors
    standard_error = np.sqrt((fast * (1 - fast) + literal * (1 - literal)) / len(seeds)) + 1e-9
    assert np.all(np.abs(fast - literal) <= 4 * standard_error + 0.01)
    assert np.corrcoef(fast, literal)[0, 1] > 0.9


def test_seeding_does_not_loop_on_zero_feature_vectors():
    features = np.zeros((10, 4), dtype=np.float32)
    features[:3] = np.eye(4, dtype=np.float32)[:3]
    ldm = np.linspace(0, 0.9, 10)
    chosen = ldm_seeding(ldm, features, 6, rng=0)
    assert len(set(chosen.tolist())) == 6 and chosen[0] == 0


def test_degenerate_ldm_values_still_give_a_selection():
    features = np.random.default_rng(0).uniform(size=(50, 8)).astype(np.float32)
    for ldm in (np.full(50, 0.3), np.zeros(50), np.ones(50)):  # all equal, all zero, a model that never flips
        chosen = ldm_seeding(ldm, features, 10, rng=0)
        assert len(set(chosen.tolist())) == 10 and chosen[0] == 0  # ties: the first smallest


def test_a_pool_of_identical_images():
    features = np.tile(np.array([[0.5, 0, 2, 1]], dtype=np.float32), (30, 1))
    pool, sample = features, features[:10]
    kernel = np.array([[1, 0], [0, 1], [1, -1], [0, 0]], dtype=np.float32)
    ldm = estimate_ldm(pool, sample, kernel, np.zeros(2, dtype=np.float32), rng=0)
    assert len(np.unique(ldm)) == 1  # identical samples flip together
    chosen = ldm_seeding(ldm, features, 5, rng=0)
    np.testing.assert_array_equal(chosen, [0, 1, 2, 3, 4])  # all at distance 0: the smallest LDM, in order


@pytest.mark.parametrize("where", ["pool", "sample", "seeding"])
def test_nan_features_are_a_clear_error(where):
    pool, sample, kernel, bias = clustered_problem(0, n_pool=30, n_sample=30)
    broken = {"pool": pool, "sample": sample, "seeding": pool}[where]
    broken[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        if where == "seeding":
            ldm_seeding(np.linspace(0, 1, 30), pool, 5, rng=0)
        else:
            estimate_ldm(pool, sample, kernel, bias, rng=0)


@pytest.mark.parametrize("row", [0, 8191, 8192, 19_999])
def test_a_non_finite_value_in_any_block_of_a_large_pool_is_found(row):
    pool = np.ones((20_000, 4), dtype=np.float32)  # checked 8,192 rows at a time
    pool[row, 2] = np.inf
    _, sample, kernel, bias = clustered_problem(0, n_pool=30, n_sample=30, dim=4)
    with pytest.raises(ValueError, match="features_pool contains NaN or infinite"):
        estimate_ldm(pool, sample, kernel, bias, rng=0)


def test_progress_bars_only_where_asked_and_by_default_only_on_a_terminal(capsys):
    pool, sample, kernel, bias = clustered_problem(0, n_pool=60, n_sample=60)
    for progress in (None, False):  # capsys' stderr is not a terminal
        ldm = estimate_ldm(pool, sample, kernel, bias, rng=0, progress=progress)
        ldm_seeding(ldm, pool, 5, rng=0, progress=progress)
        assert capsys.readouterr().err == ""
    ldm = estimate_ldm(pool, sample, kernel, bias, rng=0, progress=True)
    ldm_seeding(ldm, pool, 5, rng=0, progress=True)
    drawn = capsys.readouterr().err
    assert "LDM sigma grid" in drawn and "LDM-S seeding" in drawn


def spread_problem(seed=0, n=300, dim=48, n_classes=4):
    """Features in more dimensions than the other problems: most rows span 6 directions, a third of them
    also have energy, from small to large, in the 42 others."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 2, size=(n_classes, 6))
    labels = rng.integers(n_classes, size=2 * n)
    features = np.zeros((2 * n, dim), dtype=np.float32)
    features[:, :6] = np.maximum(centres[labels] + rng.normal(0, 0.8, size=(2 * n, 6)), 0)
    spread = rng.random(2 * n) < 0.3
    features[spread, 6:] = rng.uniform(0, 1, size=(spread.sum(), dim - 6)) * rng.uniform(0.05, 1.5, size=(spread.sum(), 1))
    kernel = rng.normal(0, 0.3, size=(dim, n_classes)).astype(np.float32)
    kernel[:6] = (centres - centres.mean(0)).T
    bias = rng.normal(0, 0.1, size=n_classes).astype(np.float32)
    return features[:n], features[n:], kernel, bias


@pytest.mark.parametrize("max_chunk", [7, 128])
def test_estimator_matches_the_literal_algorithm_on_features_spread_over_many_directions(max_chunk):
    pool, sample, kernel, bias = spread_problem()
    counts = {}
    *_, (_, draws, ldm) = ldm_draws(pool, sample, kernel, bias, rng=3, max_chunk=max_chunk, counts=counts)
    expected, history = literal_ldm(pool, sample, kernel, bias, np.random.default_rng(3))
    np.testing.assert_array_equal(ldm.astype(np.float32), expected)
    assert draws == sum(len(flags) for flags in history)
    assert len(np.unique(expected)) > 10
    assert 0 < counts["evaluated"] < (len(pool) + len(sample)) * draws  # the reach test skipped some pairs


def test_reach_test_keeps_every_row_a_draw_flips_at_the_edge_of_the_bound():
    # rows along the direction that lowers class 0's lead most (Cauchy-Schwarz is attained), with the bias
    # change against class 0 too; their margins are swept across the bound, where the flips start
    rng = np.random.default_rng(0)
    dim, sigma = 8, 0.5
    noise = np.concatenate([rng.standard_normal(2 * dim), [-1.0, 1.0]]).astype(np.float32)[None]
    change = sigma * np.float64(noise[0, : 2 * dim]).reshape(dim, 2)
    lowering = -(change[:, 0] - change[:, 1]) / np.linalg.norm(change[:, 0] - change[:, 1])
    kernel = np.float32(0.75 * np.linalg.norm(change[:, 0] - change[:, 1]) * np.stack([lowering, -lowering], axis=1))
    bias = np.zeros(2, dtype=np.float32)
    reach = _reach(noise, sigma, dim, 2, np)
    reach_kernel, reach_bias = reach[:2]
    edge = reach_bias / (np.linalg.norm(kernel[:, 0] - kernel[:, 1]) - reach_kernel)  # the length where flips start
    lengths = edge * (1 + np.linspace(-0.02, 0.02, 2001))
    rows = _Rows(np.float32(lengths[:, None] * lowering), kernel, bias, np)
    kernels = kernel + sigma * noise[:, : 2 * dim].reshape(1, dim, 2)
    biases = bias + sigma * noise[:, 2 * dim :]
    flipped = rows.flips(np.arange(len(lengths)), kernels, biases)[:, 0]
    candidates = np.isin(np.arange(len(lengths)), rows.flip_candidates(reach))
    assert flipped[:900].all() and not flipped[1100:].any()  # the sweep straddles the edge
    assert not np.any(flipped & ~candidates)  # the bound never leaves out a row that flips
    assert not candidates[-1]  # and it is tight: 2% past the edge, rows are left out


def tied_problem(seed, n_pool=200, n_sample=200, dim=6):
    """Logits with exact ties: kernel columns 1 and 3 repeat columns 0 and 2 (small integers), the biases are
    2048 (class 3: one float32 step more), so perturbations below a step are rounded away; every feature row
    has at most two non-zero entries, 1 or 2, so any order of summation gives the same float32 logits."""
    rng = np.random.default_rng(seed)
    kernel = rng.integers(-1, 2, size=(dim, 4)).astype(np.float32)
    kernel[:, 1], kernel[:, 3] = kernel[:, 0], kernel[:, 2]
    bias = np.float32([2048, 2048, 2048, np.nextafter(np.float32(2048), np.float32(np.inf))])
    features = np.zeros((n_pool + n_sample, dim), dtype=np.float32)
    for row in features:
        n_nonzero = rng.integers(0, 3)  # zero rows too
        row[rng.choice(dim, n_nonzero, replace=False)] = rng.choice([1.0, 2.0], n_nonzero)
    return features[:n_pool], features[n_pool:], kernel, bias


def count_ties(features, kernel, bias, history, seed):
    """Replay the literal run's draws (same seed, as many per sigma as ``history`` says); return (rows whose
    unperturbed top logit is tied, (row, draw) pairs where the prediction ties for the top and is the first of
    the tied classes, pairs where it ties for the top but a lower class comes first)."""
    rng = np.random.default_rng(seed)
    dim, n_classes = kernel.shape
    rows = np.arange(len(features))
    unperturbed = features @ kernel + bias
    tied_rows = int(((unperturbed == unperturbed.max(axis=1, keepdims=True)).sum(axis=1) > 1).sum())
    prediction = unperturbed.argmax(axis=1)
    kept = lost = 0
    for k, flags in enumerate(history):
        sigma = 10.0 ** (-5 + 0.1 * k)  # the algorithm's grid, as the literal run went through it
        for _ in flags:
            noise = rng.standard_normal(dim * n_classes + n_classes, dtype=np.float32)
            logits = features @ (kernel + sigma * noise[: dim * n_classes].reshape(dim, n_classes))
            logits += bias + sigma * noise[dim * n_classes :]
            top = logits == logits.max(axis=1, keepdims=True)
            tied = (top.sum(axis=1) > 1) & top[rows, prediction]
            kept += int((tied & (top.argmax(axis=1) == prediction)).sum())
            lost += int((tied & (top.argmax(axis=1) < prediction)).sum())
    return tied_rows, kept, lost


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_logit_ties_are_decided_as_the_literal_algorithm_decides_them(seed):
    # argmax takes the first of equal logits: a tie with the prediction first is no flip, one with a lower
    # class first is a flip; both happen here thousands of times, on the pool and on the sampling set
    pool, sample, kernel, bias = tied_problem(seed)
    expected, history = literal_ldm(pool, sample, kernel, bias, np.random.default_rng(seed))
    for features in (pool, sample):
        tied_rows, kept, lost = count_ties(features, kernel, bias, history, seed)
        assert tied_rows >= 10 and kept >= 1000 and lost >= 1000
    for max_chunk in (1, 128):
        draws, ldm = total_draws(pool, sample, kernel, bias, rng=seed, max_chunk=max_chunk)
        np.testing.assert_array_equal(ldm.astype(np.float32), expected)
        assert draws == sum(len(flags) for flags in history)
    assert len(np.unique(expected)) > 10


@pytest.mark.parametrize("problem", [tied_problem(0), clustered_problem(1), spread_problem(2)])
def test_flips_equal_the_literal_argmax_for_every_pair(problem):
    # the product's gaps decide most pairs, the ones within the float32 slack are recomputed: either way the
    # mask must be the literal algorithm's, one draw at a time, ties to the first class included
    pool, _, kernel, bias = problem
    dim, n_classes = kernel.shape
    rows = _Rows(pool, kernel, bias, np)
    prediction = np.argmax(pool @ kernel + bias, axis=1)
    rng = np.random.default_rng(0)
    for sigma in (1e-4, 1e-2, 0.3):
        noise = rng.standard_normal((40, dim * n_classes + n_classes), dtype=np.float32)
        kernels = kernel + sigma * noise[:, : dim * n_classes].reshape(40, dim, n_classes)
        biases = bias + sigma * noise[:, dim * n_classes :]
        expected = np.stack([np.argmax(pool @ w + b, axis=1) != prediction for w, b in zip(kernels, biases)], axis=1)
        np.testing.assert_array_equal(rows.flips(np.arange(len(pool)), kernels, biases), expected)
        subset = np.arange(0, len(pool), 3)
        np.testing.assert_array_equal(rows.flips(subset, kernels, biases), expected[subset])
