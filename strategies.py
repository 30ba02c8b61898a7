"""Query strategies: LDM-S and the baselines it is compared with, as functions over arrays.

Every strategy has the signature ``strategy(arrays, n_query, rng) -> positions``: ``arrays`` holds what
the model said about the pool (and, where a strategy needs them, the sampling set and the labeled set),
``rng`` is a NumPy Generator, and the result is a NumPy int64 array of ``n_query`` distinct positions
into the pool. Each strategy names the arrays it needs, so the model is asked once per query, for those.
"""
from dataclasses import dataclass, field

import numpy as np

from errors import UserError
from ldm import estimate_ldm, select_ldms
from utils import timed

STRATEGIES = {}  # name -> function
NEEDS = {}  # name -> the PoolArrays fields it reads


@dataclass
class PoolArrays:
    """What the model says about the pool, asked for once per query."""

    n_pool: int
    probabilities: np.ndarray = None  # softmax of the pool, (n_pool, C)
    features: np.ndarray = None  # penultimate features of the pool, (n_pool, d)
    features_sample: np.ndarray = None  # penultimate features of the sampling set S
    features_labeled: np.ndarray = None  # penultimate features of the labeled set
    kernel: np.ndarray = None  # last Dense layer, (d, C)
    bias: np.ndarray = None
    mc_probabilities: np.ndarray = None  # softmax with dropout on, (n_mc, n_pool, C)
    timings: dict = field(default_factory=dict)  # seconds per part of the query, added up



def register(*needs):
    """Register the decorated function as a strategy under its name, reading the fields ``needs``."""
    def add(function):
        STRATEGIES[function.__name__], NEEDS[function.__name__] = function, set(needs)
        return function
    return add


def get_strategy(name):
    """Return the strategy registered as ``name``; UserError listing the known ones otherwise."""
    if name not in STRATEGIES:
        raise UserError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


def _top(scores, n_query):
    """Positions of the ``n_query`` largest scores, largest first (ties: the lower position first)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:n_query].astype(np.int64)


@register("features", "features_sample", "kernel", "bias")
def ldms(arrays, n_query, rng):
    """LDM-S (the paper): LDM estimated with the sampling set, then the weighted k-means++ seeding."""
    return select_ldms(arrays.features, arrays.features_sample, arrays.kernel, arrays.bias, n_query, rng=rng,
                       timings=arrays.timings)


@register("features", "features_sample", "kernel", "bias")
def ldm(arrays, n_query, rng):
    """The paper's ablation: the ``n_query`` smallest LDM values, without seeding."""
    with timed(arrays.timings, "estimation"):
        ldm_values = estimate_ldm(arrays.features, arrays.features_sample, arrays.kernel, arrays.bias, rng=rng)
    return _top(-ldm_values, n_query)


@register()
def random(arrays, n_query, rng):
    """Uniformly at random from the pool."""
    return rng.choice(arrays.n_pool, size=n_query, replace=False).astype(np.int64)


def _entropy(probabilities, axis=-1):
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1)
    return -(p * np.log(p)).sum(axis=axis)


@register("probabilities")
def entropy(arrays, n_query, rng):
    """The highest predictive entropy."""
    return _top(_entropy(arrays.probabilities), n_query)


@register("probabilities")
def margin(arrays, n_query, rng):
    """The smallest gap between the two most probable classes."""
    top_two = np.sort(arrays.probabilities, axis=1)[:, -2:]
    return _top(-(top_two[:, 1] - top_two[:, 0]), n_query)


@register("probabilities")
def least_confidence(arrays, n_query, rng):
    """The smallest probability of the predicted class."""
    return _top(-arrays.probabilities.max(axis=1), n_query)


@register("features", "features_labeled")
def coreset(arrays, n_query, rng):
    """Greedy k-center on the penultimate features (Sener & Savarese): the labeled set are the first
    centres; each pick is the pool sample farthest from its nearest centre."""
    pool = np.asarray(arrays.features, dtype=np.float64)
    labeled = np.asarray(arrays.features_labeled, dtype=np.float64)
    squared_pool = (pool**2).sum(axis=1)
    nearest = np.full(len(pool), np.inf)
    for start in range(0, len(labeled), 1024):  # blocks keep the distance matrix small
        block = labeled[start : start + 1024]
        distances = squared_pool[:, None] + (block**2).sum(axis=1)[None, :] - 2 * pool @ block.T
        nearest = np.minimum(nearest, distances.min(axis=1))
    picked = []
    for _ in range(n_query):
        index = int(np.argmax(nearest))
        picked.append(index)
        nearest = np.minimum(nearest, squared_pool + squared_pool[index] - 2 * pool @ pool[index])
        nearest[picked] = -np.inf  # never picked twice, even among exact duplicates
    return np.asarray(picked, dtype=np.int64)


@register("probabilities", "features")
def badge(arrays, n_query, rng):
    """BADGE (Ash et al.): k-means++ seeding on the last layer's gradient embeddings
    g_i = (p_i - onehot(argmax p_i)) x h_i, never built: |g_i|^2 = |p_i - e_i|^2 |h_i|^2 and
    <g_i, g_j> = <p_i - e_i, p_j - e_j> <h_i, h_j>. The first pick is the largest norm."""
    p = np.asarray(arrays.probabilities, dtype=np.float64)
    h = np.asarray(arrays.features, dtype=np.float64)
    residual = p.copy()
    residual[np.arange(len(p)), p.argmax(axis=1)] -= 1
    squared_norms = (residual**2).sum(axis=1) * (h**2).sum(axis=1)

    def squared_distances(index):
        inner = (residual @ residual[index]) * (h @ h[index])
        return np.maximum(squared_norms + squared_norms[index] - 2 * inner, 0)

    picked = [int(np.argmax(squared_norms))]
    nearest = squared_distances(picked[0])
    while len(picked) < n_query:
        nearest[picked] = 0
        total = nearest.sum()
        if total <= 0:  # every remaining embedding coincides with a chosen one: the largest norms left
            rest = [i for i in _top(squared_norms, len(p)).tolist() if i not in set(picked)]
            picked += rest[: n_query - len(picked)]
            break
        index = int(np.searchsorted(np.cumsum(nearest), rng.random() * total, side="right"))
        picked.append(min(index, len(p) - 1))
        nearest = np.minimum(nearest, squared_distances(picked[-1]))
    return np.asarray(picked, dtype=np.int64)


@register("mc_probabilities")
def bald(arrays, n_query, rng):
    """BALD with MC dropout (Gal et al.): the largest mutual information between prediction and
    weights, H(mean p) - mean H(p), over the dropout passes."""
    mc = np.asarray(arrays.mc_probabilities, dtype=np.float64)
    return _top(_entropy(mc.mean(axis=0)) - _entropy(mc).mean(axis=0), n_query)
