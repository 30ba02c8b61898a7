"""LDM-S: the least disagree metric (LDM) estimator and the LDM-S seeding (SPEC sections 2-3).

Cho et al., "Querying Easily Flip-flopped Samples for Deep Active Learning", ICLR 2024.
The maths is written once against an array module ``xp`` (NumPy or CuPy); ``array_module``
is the one place where that choice is made. Every random draw comes from the NumPy
``Generator`` passed in as ``rng``, so the same seed gives the same selection on CPU and GPU.
"""
import functools
import os

import numpy as np
from tqdm.auto import tqdm

from errors import UserError

SIGMAS = tuple(10.0 ** (-5 + 0.1 * k) for k in range(51))  # 1e-5 .. 1, increasing
DISTANCE_FLOOR = 1e-5  # cosine distances below this count as 0


def array_module():
    """Return CuPy when it imports and sees a CUDA device, else NumPy; LDMS_XP=numpy|cupy forces one."""
    choice = os.environ.get("LDMS_XP", "auto").strip().lower()
    if choice not in ("auto", "numpy", "cupy"):
        raise UserError(f"LDMS_XP must be numpy, cupy or auto, not {choice!r}")
    return _load_array_module(choice)


@functools.cache
def _load_array_module(choice):
    if choice == "numpy":
        return np
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return cupy
        reason = "no CUDA device found"
    except Exception as error:  # ImportError, or CUDARuntimeError on a machine without a GPU
        reason = f"{type(error).__name__}: {error}"
    if choice == "cupy":
        raise UserError(f"LDMS_XP=cupy, but CuPy cannot be used ({reason})")
    return np


def to_numpy(array):
    """Return a NumPy copy of a NumPy or CuPy array."""
    return array.get() if hasattr(array, "get") else np.asarray(array)


def estimate_ldm(features_pool, features_sample, kernel, bias, *, rng, stop_cond=10, sigmas=None, xp=None):
    """Return the estimated LDM of every pool sample, a float32 NumPy array of shape (n_pool,).

    The last layer (kernel d x C, bias C) is perturbed with Gaussian noise of growing sigma. A draw
    that flips a pool sample's prediction bounds its LDM by rho, the fraction of the sampling set
    that the same draw flips; the LDM is the smallest such rho (1 if no draw ever flipped it).
    Each sigma ends after ``stop_cond`` consecutive draws that lowered no LDM.
    """
    xp = xp or array_module()
    rng = np.random.default_rng(rng)
    pool = xp.asarray(features_pool, dtype=xp.float32)
    sample = xp.asarray(features_sample, dtype=xp.float32)
    kernel = xp.asarray(kernel, dtype=xp.float32)
    bias = xp.asarray(bias, dtype=xp.float32)
    dim, n_classes = kernel.shape
    pred_pool = xp.argmax(pool @ kernel + bias, axis=1)
    pred_sample = xp.argmax(sample @ kernel + bias, axis=1)
    ldm = xp.ones(len(pool), dtype=xp.float64)
    for sigma in tqdm(SIGMAS if sigmas is None else sigmas, desc="LDM sigma grid", leave=False):
        draws_without_decrease = 0
        while draws_without_decrease < stop_cond:
            noise = xp.asarray(rng.standard_normal(dim * n_classes + n_classes, dtype=np.float32))
            kernel_draw = kernel + sigma * noise[: dim * n_classes].reshape(dim, n_classes)
            bias_draw = bias + sigma * noise[dim * n_classes :]
            rho = xp.mean(xp.argmax(sample @ kernel_draw + bias_draw, axis=1) != pred_sample)
            flipped = xp.argmax(pool @ kernel_draw + bias_draw, axis=1) != pred_pool
            lowered = flipped & (ldm > rho)
            if bool(lowered.any()):
                ldm[lowered] = rho
                draws_without_decrease = 0
            else:
                draws_without_decrease += 1
    return to_numpy(ldm).astype(np.float32)


def seeding_weights(sorted_ldm, n_query, xp=np):
    """Return gamma for LDM values sorted ascending (SPEC 3.2-3.3), an array of the same length.

    gamma_i = exp(-max(l_i - l_q, 0) / l_q) with l_q the (n_query+1)-th smallest LDM (the smallest
    positive one if that is 0); the tail from position n_query is rescaled to sum to n_query, then
    every gamma is clipped at 1.
    """
    sorted_ldm = xp.asarray(sorted_ldm, dtype=xp.float64)
    l_q = float(sorted_ldm[n_query])
    if l_q == 0:
        positive = sorted_ldm[sorted_ldm > 0]
        l_q = float(positive[0]) if len(positive) else 1.0  # all LDM zero: every gamma is 1 for any l_q > 0
    gamma = xp.exp(-xp.maximum(sorted_ldm - l_q, 0) / l_q)
    gamma[n_query:] *= n_query / gamma[n_query:].sum()
    return xp.minimum(gamma, 1.0)


def ldm_seeding(ldm, features, n_query, *, rng, xp=None):
    """Return ``n_query`` distinct pool positions (NumPy int64 array, in the order chosen) by LDM-S.

    The smallest LDM is taken first; each next sample is drawn with probability proportional to
    (gamma_i * D_i)^2, D_i being its cosine distance to the nearest sample chosen so far (a weighted
    k-means++). Distance rows are computed only for chosen samples, so memory stays O(n_pool). If
    every remaining weight is 0, the rest are the smallest-LDM samples not chosen yet.
    """
    xp = xp or array_module()
    rng = np.random.default_rng(rng)
    ldm = xp.asarray(ldm, dtype=xp.float64)
    n_pool = len(ldm)
    if not 0 < n_query < n_pool:
        raise ValueError(f"n_query must be in 1..{n_pool - 1} for a pool of {n_pool}, got {n_query}")
    order = xp.argsort(ldm, kind="stable")
    gamma = xp.empty(n_pool, dtype=xp.float64)
    gamma[order] = seeding_weights(ldm[order], n_query, xp)

    features = xp.asarray(features, dtype=xp.float32)
    norms = xp.linalg.norm(features, axis=1, keepdims=True)
    unit = features / xp.maximum(norms, xp.finfo(xp.float32).tiny)  # a zero vector stays zero

    def distances_to(position):
        distance = 1.0 - unit @ unit[position]
        return xp.where(distance < DISTANCE_FLOOR, 0.0, distance).astype(xp.float64)

    first = int(order[0])
    chosen, chosen_set = [first], {first}
    nearest = distances_to(first)
    with tqdm(total=n_query, initial=1, desc="LDM-S seeding", leave=False) as progress:
        while len(chosen) < n_query:
            cumulative = xp.cumsum((gamma * nearest) ** 2)
            total = float(cumulative[-1])
            if total == 0:
                rest = [int(i) for i in to_numpy(order) if int(i) not in chosen_set]
                chosen += rest[: n_query - len(chosen)]
                break
            position = int(xp.searchsorted(cumulative, rng.random() * total, side="right"))
            if position in chosen_set:
                continue  # redraw, as the spec says (a chosen sample has weight 0, so this is rare)
            chosen.append(position)
            chosen_set.add(position)
            nearest = xp.minimum(nearest, distances_to(position))
            progress.update(1)
    return np.asarray(chosen, dtype=np.int64)


def query_ldms(model, X_pool, X_sample, n_query, *, rng, xp=None):
    """Return the positions into ``X_pool`` (NumPy int64 array) of the ``n_query`` samples LDM-S picks.

    The model is asked once for the penultimate features of pool and sampling set and for the
    weights of its last Dense layer; everything after that is array maths.
    """
    import models  # Keras is needed only here, not by the array maths above

    rng = np.random.default_rng(rng)
    (features_pool, features_sample), kernel, bias = models.features_and_head(model, X_pool, X_sample)
    ldm = estimate_ldm(features_pool, features_sample, kernel, bias, rng=rng, xp=xp)
    return ldm_seeding(ldm, features_pool, n_query, rng=rng, xp=xp)
