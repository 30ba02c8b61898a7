"""A literal implementation of docs/algorithm.md section 2, one perturbation draw at a time: the tests' oracle.

Written for clarity, not speed, and independently of ldm.py. It draws its noise in the same
layout as ldm.py (one float32 vector per draw: the d x C kernel noise, then the C bias noise),
so with the same seed both see the same stream.
"""
import numpy as np


def literal_ldm(features_pool, features_sample, kernel, bias, rng, stop_cond=10, sigmas=None, max_draws=None):
    """Return (ldm float32 array, list per sigma of the draws' 'lowered some ldm' flags).

    ``max_draws`` stops early (for timing a few draws where the whole run would take too long)."""
    sigmas = [10.0 ** (-5 + 0.1 * k) for k in range(51)] if sigmas is None else sigmas
    kernel, bias = np.float32(kernel), np.float32(bias)
    d, c = kernel.shape
    y0_pool = np.argmax(features_pool @ kernel + bias, axis=1)
    y0_sample = np.argmax(features_sample @ kernel + bias, axis=1)
    ldm = np.ones(len(features_pool))
    history = []
    for sigma in sigmas:
        flags, streak = [], 0
        while streak < stop_cond:
            if max_draws is not None and sum(map(len, history)) + len(flags) >= max_draws:
                return ldm.astype(np.float32), history + [flags]
            noise = rng.standard_normal(d * c + c, dtype=np.float32)
            w = kernel + sigma * noise[: d * c].reshape(d, c)
            b = bias + sigma * noise[d * c :]
            rho = np.count_nonzero(np.argmax(features_sample @ w + b, axis=1) != y0_sample) / len(features_sample)
            flipped = np.argmax(features_pool @ w + b, axis=1) != y0_pool
            new = np.where(flipped, np.minimum(ldm, rho), ldm)
            lowered = bool(np.any(new < ldm))
            ldm = new
            flags.append(lowered)
            streak = 0 if lowered else streak + 1
        history.append(flags)
    return ldm.astype(np.float32), history


def literal_seeding(ldm, features, n_query, rng):
    """docs/algorithm.md section 3 as written: the full cosine-distance matrix and a discrete distribution object
    built for every pick. Returns the chosen pool positions in the order chosen."""
    from scipy.spatial.distance import cdist
    from scipy.stats import rv_discrete

    order = np.argsort(ldm, kind="stable")
    l = np.asarray(ldm, dtype=np.float64)[order]
    l_q = l[n_query] if l[n_query] > 0 else (l[l > 0][0] if np.any(l > 0) else 1.0)
    gamma_sorted = np.exp(-np.maximum(l - l_q, 0) / l_q)
    gamma_sorted[n_query:] *= n_query / gamma_sorted[n_query:].sum()
    gamma = np.empty(len(l))
    gamma[order] = np.minimum(gamma_sorted, 1)
    distances = cdist(features, features, metric="cosine")
    distances[distances < 1e-5] = 0
    chosen = [int(order[0])]
    d2 = distances[order[0]].copy()
    while len(chosen) < n_query:
        weights = (gamma * d2) ** 2
        pick = int(rv_discrete(values=(np.arange(len(weights)), weights / weights.sum())).rvs(random_state=rng))
        if pick in chosen:
            continue
        chosen.append(pick)
        d2 = np.minimum(d2, distances[pick])
    return np.asarray(chosen)
