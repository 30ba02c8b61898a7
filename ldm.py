"""LDM-S: the least disagree metric (LDM) estimator and the LDM-S seeding (SPEC sections 2-3).

Cho et al., "Querying Easily Flip-flopped Samples for Deep Active Learning", ICLR 2024.
The maths is written once against an array module ``xp`` (NumPy or CuPy); ``array_module``
is the one place where that choice is made. Every random draw comes from the NumPy
``Generator`` passed in as ``rng``, so the same seed gives the same selection on CPU and GPU.
"""
import functools
import os
import time

import numpy as np
from tqdm.auto import tqdm

from errors import UserError

SIGMAS = tuple(10.0 ** (-5 + 0.1 * k) for k in range(51))  # 1e-5 .. 1, increasing
DISTANCE_FLOOR = 1e-5  # cosine distances below this count as 0
SUBSPACE_RANK = 32  # principal directions of the features in which a draw's effect is computed exactly
BASIS_ROWS = 16384  # at most this many evenly spaced rows of each feature set give the principal directions
CONCENTRATED = 0.5  # rows with |residual| / |h| at most this get the subspace bound before the full product
DENSE = 0.25  # rows the bound leaves unsure for more than this share of a chunk's draws: one product for all


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


def _require_finite(xp, **arrays):
    for name, array in arrays.items():
        if not bool(xp.isfinite(array).all()):
            raise ValueError(f"{name} contains NaN or infinite values (has the model diverged?)")


def to_numpy(array):
    """Return a NumPy copy of a NumPy or CuPy array."""
    return array.get() if hasattr(array, "get") else np.asarray(array)


def estimate_ldm(features_pool, features_sample, kernel, bias, *, rng, stop_cond=10, sigmas=None, xp=None,
                 max_chunk=128):
    """Return the estimated LDM of every pool sample, a float32 NumPy array of shape (n_pool,).

    The last layer (kernel d x C, bias C) is perturbed with Gaussian noise of growing sigma. A draw
    that flips a pool sample's prediction bounds its LDM by rho, the fraction of the sampling set
    that the same draw flips; the LDM is the smallest such rho (1 if no draw ever flipped it).
    Each sigma ends after ``stop_cond`` consecutive draws that lowered no LDM. Draws are evaluated
    up to ``max_chunk`` at a time; the values are exactly those of one draw at a time.
    """
    sigmas = SIGMAS if sigmas is None else sigmas
    with tqdm(total=len(sigmas), desc="LDM sigma grid", leave=False) as progress:
        for levels_done, _, ldm in ldm_draws(features_pool, features_sample, kernel, bias, rng=rng,
                                             stop_cond=stop_cond, sigmas=sigmas, xp=xp, max_chunk=max_chunk):
            progress.update(levels_done - progress.n)
    return to_numpy(ldm).astype(np.float32)


def ldm_draws(features_pool, features_sample, kernel, bias, *, rng, stop_cond=10, sigmas=SIGMAS, xp=None,
              max_chunk=128, counts=None):
    """Run the LDM estimator; after every chunk of draws yield (sigma levels done, draws so far, ldm).

    ``ldm`` is the xp float64 array of the current values. Draw t uses row t of one stream of float32
    normals (kernel noise, then bias noise), whatever the chunking: rows drawn past the end of a sigma
    level are used by the next level, so the values equal those of one draw at a time. If ``counts`` is
    a dict, it holds the (row, draw) pairs so far that passed the reach test ('candidates') and those
    that needed the full matrix product ('evaluated'), pool and sampling set together.
    """
    xp = xp or array_module()
    rng = np.random.default_rng(rng)
    kernel = xp.asarray(kernel, dtype=xp.float32)
    bias = xp.asarray(bias, dtype=xp.float32)
    features_pool = xp.asarray(features_pool, dtype=xp.float32)
    features_sample = xp.asarray(features_sample, dtype=xp.float32)
    _require_finite(xp, features_pool=features_pool, features_sample=features_sample, kernel=kernel, bias=bias)
    dim, n_classes = kernel.shape
    basis = _principal_basis((features_pool, features_sample), min(SUBSPACE_RANK, dim), xp)
    pool = _Rows(features_pool, kernel, bias, basis, xp)
    sample = _Rows(features_sample, kernel, bias, basis, xp)
    ldm = xp.ones(pool.size, dtype=xp.float64)
    spare = np.empty((0, dim * n_classes + n_classes), dtype=np.float32)  # drawn, not used yet
    draws = 0
    for level, sigma in enumerate(sigmas):
        streak = level_draws = 0
        while streak < stop_cond:
            size = max(stop_cond - streak, min(max_chunk, level_draws // 4))  # grows while the level goes on
            if len(spare) < size:
                fresh = rng.standard_normal((size - len(spare), spare.shape[1]), dtype=np.float32)
                spare = np.concatenate([spare, fresh])
            chunk = _Draws(xp.asarray(spare[:size]), sigma, kernel, bias, basis, xp)
            lowered, rows, running = _chunk_effects(ldm, pool, sample, chunk, xp)
            taken = size
            for t, lowered_t in enumerate(to_numpy(lowered)):  # the spec's stop rule, draw by draw
                streak = 0 if lowered_t else streak + 1
                if streak == stop_cond:
                    taken = t + 1
                    break
            if len(rows):
                ldm[rows] = xp.minimum(ldm[rows], running[:, taken - 1])
            spare, level_draws, draws = spare[taken:], level_draws + taken, draws + taken
            if counts is not None:
                counts["candidates"] = pool.candidates + sample.candidates
                counts["evaluated"] = pool.evaluated + sample.evaluated
            yield level + (streak == stop_cond), draws, ldm



def _principal_basis(feature_sets, rank, xp):
    """Return a (d, rank) float64 orthonormal basis of the top principal directions (uncentred) of the
    features: the eigenvectors of their second-moment matrix with the largest eigenvalues."""
    moment = 0
    for features in feature_sets:
        some = features[:: max(1, len(features) // BASIS_ROWS)].astype(xp.float64)
        moment = moment + some.T @ some
    _, vectors = xp.linalg.eigh(moment)  # eigenvalues in ascending order
    return xp.ascontiguousarray(vectors[:, ::-1][:, :rank])


def _rounding(dim):
    """Return the relative slack for float32 rounding of a d-term dot product, with room to spare:
    d * 2^-24 is the classical bound, a product's terms being at most the product of the norms."""
    return max(1e-3, 32 * dim * 2.0**-24)


class _Draws:
    """A chunk of perturbed heads (kernel + sigma * noise, bias + sigma * noise) and the largest changes
    they make, in the subspace of ``basis`` and outside it, to a difference of two classes' weights."""

    def __init__(self, noise, sigma, kernel, bias, basis, xp):
        self.size = size = len(noise)
        dim, n_classes = kernel.shape
        self.kernels = kernel + sigma * noise[:, : dim * n_classes].reshape(size, dim, n_classes)
        self.biases = bias + sigma * noise[:, dim * n_classes :]
        self.stacked = self.kernels.transpose(1, 2, 0).reshape(dim, n_classes * size)  # one product per chunk
        deltas = self.kernels.astype(xp.float64) - kernel  # the changes as drawn, (size, d, C)
        bias_deltas = self.biases.astype(xp.float64) - bias  # (size, C)
        inner = basis.T @ deltas  # (size, k, C): the changes' coordinates in the subspace
        # [coordinates, logits, 1] @ thin: the logits with the kernel changes taken in the subspace only
        self.thin = xp.concatenate([inner.transpose(1, 2, 0).reshape(len(basis.T), n_classes * size),
                                    xp.repeat(xp.eye(n_classes), size, axis=1),
                                    bias_deltas.T.reshape(1, n_classes * size)]).astype(xp.float32)
        gram = deltas.transpose(0, 2, 1) @ deltas
        gram_inner = inner.transpose(0, 2, 1) @ inner
        pair = _pair_distances(gram, xp)  # |dW_c - dW_c'| per draw
        pair_inner = _pair_distances(gram_inner, xp)  # |U^T (dW_c - dW_c')|
        pair_rest = _pair_distances(gram - gram_inner, xp)  # |(I - U U^T)(dW_c - dW_c')|
        self.reach_kernel, self.reach_inner, self.reach_rest = float(pair.max()), float(pair_inner.max()), float(pair_rest.max())
        self.rest_from = pair_rest.max(axis=2)  # (size, C): for a row predicted y, the largest rest to any class
        self.reach_bias = float((bias_deltas.max(axis=1) - bias_deltas.min(axis=1)).max())
        self.largest_column = float(xp.sqrt(xp.diagonal(gram, axis1=1, axis2=2).max()))
        self.largest_bias = float(xp.abs(bias_deltas).max())


def _pair_distances(gram, xp):
    """Return |x_c - x_c'| for all c, c' of each matrix in a stack, from its Gram matrices (n, C, C)."""
    squares = xp.diagonal(gram, axis1=1, axis2=2)
    return xp.sqrt(xp.maximum(squares[:, :, None] + squares[:, None, :] - 2 * gram, 0))


class _Rows:
    """Features of a set of samples with what the estimator needs of them once: the unperturbed logits
    and prediction, the logit margin of the top class over the runner-up, the feature norms, and each
    row's coordinates in the principal subspace (followed by its logits and a 1) with the norm of the rest."""

    BLOCK = 8192  # rows per matrix product: bounds the memory of a chunk's logits

    def __init__(self, features, kernel, bias, basis, xp):
        self.xp = xp
        self.features = features
        self.size = len(features)
        self.logits = features @ kernel + bias
        top_two = xp.sort(self.logits, axis=1)[:, -2:].astype(xp.float64)
        self.prediction = xp.argmax(self.logits, axis=1)
        self.margin = top_two[:, 1] - top_two[:, 0]
        self.norm = xp.sqrt(xp.einsum("ij,ij->i", features, features).astype(xp.float64))
        self.coordinates = xp.concatenate([features @ basis.astype(xp.float32), self.logits,
                                           xp.ones((self.size, 1), dtype=xp.float32)], axis=1)
        self.inner_norm = xp.empty(self.size)
        self.rest_norm = xp.empty(self.size)
        for start in range(0, self.size, self.BLOCK):
            block = features[start : start + self.BLOCK].astype(xp.float64)
            inner = block @ basis
            rest = block - inner @ basis.T
            self.inner_norm[start : start + self.BLOCK] = xp.sqrt(xp.einsum("ij,ij->i", inner, inner))
            self.rest_norm[start : start + self.BLOCK] = xp.sqrt(xp.einsum("ij,ij->i", rest, rest))
        self.concentrated = self.rest_norm <= CONCENTRATED * self.norm
        self.rounding = _rounding(kernel.shape[0])
        self.weights_scale = float(xp.linalg.norm(kernel, axis=0).max()), float(xp.abs(bias).max())
        self.candidates = self.evaluated = 0  # (row, draw) pairs: past the reach test, through the full product

    def slack(self, rows, draws):
        """Return the float32 rounding slack of the logit gaps of ``rows`` (all if None) under the draws:
        the terms of a logit are at most |h| (|W_c| + |dW_c|) + |b_c| + |db_c|."""
        norm = self.norm if rows is None else self.norm[rows]
        kernel_scale, bias_scale = self.weights_scale
        scale = norm * (kernel_scale + draws.largest_column) + bias_scale + draws.largest_bias
        return self.rounding * scale + 1e-6

    def flip_candidates(self, draws):
        """Return a mask of the rows whose prediction a draw of the chunk can change.

        A draw changes the logit gap of classes c and c' by at most |h| |dW_c - dW_c'| + |db_c - db_c'|
        (Cauchy-Schwarz), and by at most |U^T h| |U^T(dW_c - dW_c')| + |h_rest| |dW_rest_c - dW_rest_c'| +
        |db_c - db_c'| split into the subspace and the rest; the smaller of the two bounds is taken.
        """
        whole = self.norm * draws.reach_kernel
        split = self.inner_norm * draws.reach_inner + self.rest_norm * draws.reach_rest
        return self.margin <= self.xp.minimum(whole, split) + draws.reach_bias + self.slack(None, draws)

    def flips(self, rows, draws):
        """Return a (len(rows), n_draws) mask: does draw t change the prediction (the argmax) of row i?

        For the rows concentrated in the subspace, the logits are first computed in it (a thin product)
        and the rest bounded by |h_rest| |dW_rest_y - dW_rest_c|: a draw whose thin gap of the prediction
        over the best other class exceeds the bound surely leaves the row unchanged, one whose gap is below
        minus the bound surely flips it. Only the draws in between get the full product: one product per draw for
        the rows they leave, one for every draw of the rows most of whose draws they leave unsure."""
        xp = self.xp
        flipped = xp.zeros((len(rows), draws.size), dtype=bool)
        unsure = xp.ones((len(rows), draws.size), dtype=bool)
        bounded = xp.nonzero(self.concentrated[rows])[0]  # positions into rows
        for start in range(0, len(bounded), self.BLOCK):
            at = bounded[start : start + self.BLOCK]
            block = rows[at]
            thin = (self.coordinates[block] @ draws.thin).reshape(len(block), -1, draws.size)
            kept, rival = _kept_and_rival(thin, self.prediction[block], xp)
            gap = kept - rival
            bound = self.rest_norm[block, None] * draws.rest_from.T[self.prediction[block]]
            bound += self.slack(block, draws)[:, None]
            flipped[at] = gap < -bound
            unsure[at] = xp.abs(gap) <= bound
        dense = xp.nonzero(xp.count_nonzero(unsure, axis=1) > DENSE * draws.size)[0]
        if len(dense) == len(rows):
            flipped, unsure = self._product_flips(rows, draws), xp.zeros_like(unsure)
        elif len(dense):
            flipped[dense] = self._product_flips(rows[dense], draws)
            unsure[dense] = False
        pair_draw, pair_row = xp.nonzero(unsure.T)  # the other unsure pairs, by draw: one product per draw
        per_draw = to_numpy(xp.bincount(pair_draw, minlength=draws.size))
        ends = np.cumsum(per_draw)
        for t in np.nonzero(per_draw)[0].tolist():
            at = pair_row[ends[t] - per_draw[t] : ends[t]]
            logits = self.features[rows[at]] @ draws.kernels[t] + draws.biases[t]
            flipped[at, t] = _decide(logits[:, :, None], self.prediction[rows[at]], xp)[:, 0]
        self.candidates += len(rows) * draws.size
        self.evaluated += len(dense) * draws.size + len(pair_row)
        return flipped

    def _product_flips(self, rows, draws):
        """The flips mask of ``rows`` from the full matrix product of their features with every draw."""
        xp = self.xp
        flipped = xp.empty((len(rows), draws.size), dtype=bool)
        every_row = len(rows) == self.size  # then rows is 0..size-1: slices, no copies
        for start in range(0, len(rows), self.BLOCK):
            block = rows[start : start + self.BLOCK]
            features = self.features[start : start + self.BLOCK] if every_row else self.features[block]
            logits = (features @ draws.stacked).reshape(len(block), -1, draws.size)
            logits += draws.biases.T
            flipped[start : start + self.BLOCK] = _decide(logits, self.prediction[block], xp)
        return flipped

    def disagreement(self, draws):
        """Return rho of each draw: the fraction of rows whose prediction it changes (float64)."""
        rows = self.xp.nonzero(self.flip_candidates(draws))[0]
        return self.xp.count_nonzero(self.flips(rows, draws), axis=0) / self.size


def _kept_and_rival(logits, predicted, xp):
    """Return (the logit of the unperturbed prediction, the best other logit), each (rows, draws), from
    logits (rows, C, draws); the prediction's own logits are overwritten with -inf."""
    at = xp.arange(len(predicted))
    kept = logits[at, predicted]
    logits[at, predicted] = -xp.inf
    return kept, logits.max(axis=1)  # a max over classes is faster than an argmax


def _decide(logits, predicted, xp):
    """Return the (rows, draws) mask of logits (rows, C, draws) whose argmax is not ``predicted``."""
    kept, rival = _kept_and_rival(logits, predicted, xp)
    flipped = rival > kept
    ties = xp.nonzero(rival == kept)  # argmax takes the first of equal logits
    if len(ties[0]):
        first = (logits[ties[0], :, ties[1]] == kept[ties][:, None]).argmax(axis=1)
        flipped[ties] = first < predicted[ties[0]]
    return flipped


def _chunk_effects(ldm, pool, sample, draws, xp):
    """Return (lowered, rows, running) for a chunk of draws applied to ``ldm`` one after another:
    lowered[t] says draw t lowers some LDM, and after the first t draws ``ldm[rows]`` is
    ``minimum(ldm[rows], running[:, t - 1])``; the other pool samples cannot be lowered in this chunk.
    Only rows that can change the result are evaluated: those within the chunk's reach and, in the pool,
    those whose LDM is above the chunk's smallest rho; the sampling set only when such pool rows exist."""
    rows = xp.nonzero(pool.flip_candidates(draws) & (ldm > 0))[0]
    if len(rows) == 0:
        return xp.zeros(draws.size, dtype=bool), rows, None
    rho = sample.disagreement(draws)
    rows = rows[ldm[rows] > rho.min()]  # a draw with rho cannot lower an LDM at or below rho
    bound = xp.where(pool.flips(rows, draws), rho, xp.inf)  # what draw t offers row i
    running = bound.copy()  # running[:, t] = min of bound[:, :t + 1], by doubling shifts
    shift = 1
    while shift < draws.size:
        running[:, shift:] = xp.minimum(running[:, shift:], running[:, :-shift])
        shift *= 2
    before = xp.minimum(ldm[rows, None], xp.concatenate([xp.full((len(rows), 1), xp.inf), running[:, :-1]], axis=1))
    return (bound < before).any(axis=0), rows, running


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


def ldm_seeding(ldm, features, n_query, *, rng, xp=None, refresh=32):
    """Return ``n_query`` distinct pool positions (NumPy int64 array, in the order chosen) by LDM-S.

    The smallest LDM is taken first; each next sample is drawn with probability proportional to
    (gamma_i * D_i)^2, D_i being its cosine distance to the nearest sample chosen so far (a weighted
    k-means++). If every remaining weight is 0, the rest are the smallest-LDM samples not chosen yet.

    No pool x pool matrix is built: D is brought up to date for ``refresh`` chosen samples at a time,
    with one matrix product. In between, a sample is proposed from the weights of the last update (a
    cumulative sum and a binary search) and accepted with probability (D_now / D_then)^2, D_now taking
    the samples chosen since into account: rejection sampling, so each pick follows the spec's
    distribution exactly. Samples with gamma = 0 can never be drawn and are left out from the start.
    """
    xp = xp or array_module()
    rng = np.random.default_rng(rng)
    ldm = xp.asarray(ldm, dtype=xp.float64)
    n_pool = len(ldm)
    if not 0 < n_query < n_pool:
        raise ValueError(f"n_query must be in 1..{n_pool - 1} for a pool of {n_pool}, got {n_query}")
    order = xp.argsort(ldm, kind="stable")
    gamma_sorted = seeding_weights(ldm[order], n_query, xp)
    drawable = order[gamma_sorted > 0]  # positions that can be drawn, by ascending LDM
    gamma = gamma_sorted[gamma_sorted > 0]
    unit = xp.asarray(features, dtype=xp.float32)[drawable]  # a copy, normalised in place
    _require_finite(xp, ldm=ldm, features=unit)
    unit /= xp.maximum(xp.sqrt(xp.einsum("ij,ij->i", unit, unit)), xp.finfo(xp.float32).tiny)[:, None]

    def floored(distance):
        return xp.where(distance < DISTANCE_FLOOR, 0, distance)

    def update(nearest, centres):
        """D brought up to date with ``centres``: one matrix product over all samples."""
        distance = 1.0 - unit @ unit[centres].T
        distance[centres, xp.arange(len(centres))] = 0  # also for a zero vector, undefined otherwise
        return xp.minimum(nearest, floored(distance).min(axis=1))

    def distance_now(index, then, centres):
        """D of one sample, taking ``centres`` into account as well."""
        if not centres:
            return then
        distance = floored(1.0 - unit[centres] @ unit[index])
        return 0.0 if index in centres else min(then, float(distance.min()))

    nearest = update(xp.full(len(unit), xp.inf, dtype=xp.float32), [0])  # the smallest LDM, drawable[0], first
    chosen, pending, rejections = [0], [], 0
    cumulative = xp.cumsum((gamma * nearest) ** 2)
    with tqdm(total=n_query, initial=1, desc="LDM-S seeding", leave=False) as progress:
        while len(chosen) < n_query:
            if pending and (len(pending) >= refresh or rejections >= refresh or float(cumulative[-1]) == 0):
                nearest = update(nearest, pending)
                cumulative = xp.cumsum((gamma * nearest) ** 2)
                pending, rejections = [], 0
            total = float(cumulative[-1])
            if total == 0:
                break
            index = int(xp.searchsorted(cumulative, xp.asarray([rng.random() * total]), side="right")[0])
            then = float(nearest[index])
            now = distance_now(index, then, pending)
            if rng.random() * then**2 < now**2:  # a chosen sample has D_now = 0: never taken twice
                chosen.append(index)
                pending.append(index)
                progress.update(1)
            else:
                rejections += 1
    picked = to_numpy(drawable)[chosen].tolist()
    if len(picked) < n_query:  # every remaining weight is 0: the smallest LDM not chosen yet
        taken = set(picked)
        picked += [i for i in to_numpy(order).tolist() if i not in taken][: n_query - len(picked)]
    return np.asarray(picked, dtype=np.int64)


def select_ldms(features_pool, features_sample, kernel, bias, n_query, *, rng, xp=None, timings=None):
    """Return the ``n_query`` pool positions (NumPy int64 array) LDM-S picks, from the model's arrays.

    The perturbations and the seeding draw from two independent streams spawned from ``rng``. If
    ``timings`` is a dict, the seconds spent in 'estimation' and 'seeding' are added to it.
    """
    noise_rng, seeding_rng = np.random.default_rng(rng).spawn(2)
    timings = {} if timings is None else timings
    started = time.perf_counter()
    ldm = estimate_ldm(features_pool, features_sample, kernel, bias, rng=noise_rng, xp=xp)
    estimated = time.perf_counter()
    picked = ldm_seeding(ldm, features_pool, n_query, rng=seeding_rng, xp=xp)
    for part, seconds in (("estimation", estimated - started), ("seeding", time.perf_counter() - estimated)):
        timings[part] = timings.get(part, 0.0) + seconds
    return picked


def query_ldms(model, X_pool, X_sample, n_query, *, rng, xp=None, timings=None):
    """Return the positions into ``X_pool`` (NumPy int64 array) of the ``n_query`` samples LDM-S picks.

    The model is asked once for the penultimate features of pool and sampling set and for the
    weights of its last Dense layer; everything after that is array maths (``select_ldms``).
    """
    import models  # Keras is needed only here, not by the array maths above

    timings = {} if timings is None else timings
    started = time.perf_counter()
    (features_pool, features_sample), kernel, bias = models.features_and_head(model, X_pool, X_sample)
    timings["features"] = timings.get("features", 0.0) + time.perf_counter() - started
    return select_ldms(features_pool, features_sample, kernel, bias, n_query, rng=rng, xp=xp, timings=timings)
