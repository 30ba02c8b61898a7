"""The CuPy path on the CPU: the LDM code and every strategy on ``strict_xp``, a stand-in array module
that refuses host/device mix-ups as CuPy does, give exactly the NumPy results."""
import numpy as np
import pytest

import ldm
import strict_xp
from bench.problems import margin_ldm, synthetic_problem
from ldm import estimate_ldm, ldm_seeding, select_ldms, to_numpy
from strategies import STRATEGIES, PoolArrays, get_strategy

N_QUERY = 12


def small_problem(seed=0):
    """(features_pool, features_sample, kernel, bias): 200 pool samples, 150 sampling ones, d=16, C=5."""
    return synthetic_problem(200, 150, 16, 5, seed=seed)


# --- the stand-in itself: what CuPy refuses raises, what CuPy allows works ---

def test_strict_arrays_refuse_implicit_conversion_and_numpy_functions():
    device = strict_xp.asarray(np.arange(6.0))
    refused = {"Implicit conversion": [lambda: np.asarray(device), lambda: np.array(device),
                                       lambda: np.asarray([device[0], device[1]]), lambda: np.ones(6)[device > 2],
                                       lambda: np.random.default_rng(0).choice(device)],
               "numpy.sort applied to a device array": [lambda: np.sort(device)],
               "numpy.concatenate applied to a device array": [lambda: np.concatenate([device])],
               "list indices must be": [lambda: [1, 2][strict_xp.asarray(1)]]}  # no __index__, as in CuPy
    for message, operations in refused.items():
        for operation in operations:
            with pytest.raises(TypeError, match=message):
                operation()


def test_strict_arrays_refuse_host_operands_and_arguments():
    device, host = strict_xp.asarray(np.arange(6.0)), np.ones(6)

    def add_in_place():
        device[:] += host

    operands = [lambda: device + host, lambda: host + device, lambda: device * host, lambda: device < host,
                lambda: host == device, lambda: device @ host, lambda: np.add(device, host), add_in_place,
                lambda: device + [1.0] * 6]
    arguments = [lambda: strict_xp.minimum(device, host), lambda: strict_xp.concatenate([device, host]),
                 lambda: strict_xp.where(device > 2, host, 0), lambda: strict_xp.linalg.norm(host),
                 lambda: strict_xp.searchsorted(device, [2.5]), lambda: device.dot(host)]
    for message, operations in (("operand mixed with", operands), ("passed to", arguments)):
        for operation in operations:
            with pytest.raises(TypeError, match=message):
                operation()


def test_strict_arrays_allow_what_cupy_allows():
    host = np.arange(6.0)
    device = strict_xp.asarray(host)
    assert isinstance(device, strict_xp.ndarray) and not isinstance(device, np.ndarray)
    result = 1 - np.float32(2) * np.exp(device) / 3.0
    assert isinstance(result, strict_xp.ndarray)
    np.testing.assert_array_equal(result.get(), 1 - np.float32(2) * np.exp(host) / 3.0)
    total = device.sum()
    assert isinstance(total, strict_xp.ndarray) and total.shape == ()  # a 0-d device array, as in CuPy
    assert float(total) == 15.0 and int(device.argmax()) == 5 and bool((device > 4).any())
    assert isinstance(device[2], strict_xp.ndarray) and device[np.array([0, 2])].tolist() == [0.0, 2.0]
    copy = device.copy()
    copy[[0, 1]] = np.array([7.0, 8.0])  # a host array assigned into a device array
    copy[2:] *= 2  # in place, through a view
    assert isinstance(strict_xp.asnumpy(copy), np.ndarray)
    np.testing.assert_array_equal(strict_xp.asnumpy(copy), [7, 8, 4, 6, 8, 10])
    np.testing.assert_array_equal(device.get(), host)  # the copy did not write through
    assert strict_xp.float32 is np.float32 and strict_xp.inf == np.inf
    transposed = device.reshape(2, 3).T
    assert isinstance(transposed, strict_xp.ndarray) and transposed.shape == (3, 2)
    assert float(strict_xp.linalg.norm(transposed)) == np.linalg.norm(host)
    np.testing.assert_array_equal(to_numpy(strict_xp.nonzero(device > 3)[0]), [4, 5])


# --- the LDM code and the strategies on it ---

def test_estimate_ldm_on_strict_arrays_equals_numpy():
    pool, sample, kernel, bias = small_problem()
    expected = estimate_ldm(pool, sample, kernel, bias, rng=3, xp=np)
    strict = estimate_ldm(pool, sample, kernel, bias, rng=3, xp=strict_xp)
    assert type(strict) is np.ndarray and strict.dtype == np.float32
    np.testing.assert_array_equal(strict, expected)
    assert len(np.unique(expected)) > 10


def test_estimate_ldm_with_tied_logits_on_strict_arrays():
    pool, sample, kernel, bias = small_problem(1)
    kernel[:, 1], bias[1] = kernel[:, 0], bias[0]  # classes 0 and 1 tie wherever one of them leads
    arguments = dict(rng=4, sigmas=[0.0, 1e-3, 1e-1])  # sigma 0 keeps the ties: argmax takes the first
    np.testing.assert_array_equal(estimate_ldm(pool, sample, kernel, bias, xp=strict_xp, **arguments),
                                  estimate_ldm(pool, sample, kernel, bias, xp=np, **arguments))


def test_nan_features_on_strict_arrays_are_the_same_clear_error():
    pool, sample, kernel, bias = small_problem()
    pool[5, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        estimate_ldm(pool, sample, kernel, bias, rng=0, xp=strict_xp)
    with pytest.raises(ValueError, match="NaN or infinite"):
        ldm_seeding(np.linspace(0, 1, len(pool)), pool, 5, rng=0, xp=strict_xp)


@pytest.mark.parametrize("case", ["host", "on the device", "duplicates", "zero vectors"])
def test_ldm_seeding_on_strict_arrays_equals_numpy(case):
    pool, sample, kernel, bias = small_problem()
    values = margin_ldm(pool, kernel, bias, n_sample=len(sample))
    if case == "duplicates":  # 4 distinct vectors for 12 queries: the smallest-LDM fallback
        pool = pool[np.arange(len(pool)) % 4]
    elif case == "zero vectors":
        pool[::3] = 0
    for seed in range(3):
        expected = ldm_seeding(values, pool, N_QUERY, rng=seed, xp=np)
        given = strict_xp.asarray(values) if case == "on the device" else values
        strict = ldm_seeding(given, pool, N_QUERY, rng=seed, xp=strict_xp)
        assert type(strict) is np.ndarray and strict.dtype == np.int64
        np.testing.assert_array_equal(strict, expected)


def test_select_ldms_on_strict_arrays_equals_numpy():
    problem = small_problem(2)
    timings = {}
    strict = select_ldms(*problem, N_QUERY, rng=5, xp=strict_xp, timings=timings)
    np.testing.assert_array_equal(strict, select_ldms(*problem, N_QUERY, rng=5, xp=np))
    assert set(timings) == {"estimation", "seeding"}


def pool_arrays(seed=0):
    """What the model would say about the pool of ``small_problem``, as host arrays."""
    pool, sample, kernel, bias = small_problem(seed)
    labeled, *_ = synthetic_problem(30, 1, 16, 5, seed=seed + 100)
    logits = (pool @ kernel + bias).astype(np.float64)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    mc = np.random.default_rng(seed).dirichlet(np.ones(5), size=(4, len(pool)))
    return PoolArrays(n_pool=len(pool), probabilities=probabilities.astype(np.float32), features=pool,
                      features_sample=sample, features_labeled=labeled, kernel=kernel, bias=bias,
                      mc_probabilities=mc.astype(np.float32))


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_with_the_strict_array_module_equals_numpy(name, monkeypatch):
    expected = get_strategy(name)(pool_arrays(), N_QUERY, np.random.default_rng(7))
    asked = []

    def strict_array_module():
        asked.append(strict_xp)
        return strict_xp

    monkeypatch.setattr(ldm, "array_module", strict_array_module)
    strict = get_strategy(name)(pool_arrays(), N_QUERY, np.random.default_rng(7))
    assert type(strict) is np.ndarray and strict.dtype == np.int64
    np.testing.assert_array_equal(strict, expected)
    if name in ("ldm", "ldms"):
        assert asked  # the LDM strategies ran on the strict module
