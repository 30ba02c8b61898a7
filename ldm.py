"""LDM-S: the least disagree metric (LDM) estimator and the LDM-S seeding (docs/algorithm.md sections 2-3).

Cho et al., "Querying Easily Flip-flopped Samples for Deep Active Learning", ICLR 2024.
The maths is written once against an array module ``xp`` (NumPy or CuPy); ``array_module``
is the one place where that choice is made. Every random draw comes from the NumPy
``Generator`` passed in as ``rng``, so the same seed gives the same selection on CPU and GPU.
"""
import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm.auto import tqdm

from errors import UserError
from utils import timed

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


def _require_finite(xp, block=8192, **arrays):
    for name, array in arrays.items():  # by blocks of rows: no mask the size of a large pool
        if not all(bool(xp.isfinite(array[start : start + block]).all()) for start in range(0, len(array), block)):
            raise ValueError(f"{name} contains NaN or infinite values (has the model diverged?)")


def to_numpy(array):
    """Return a NumPy copy of a NumPy or CuPy array."""
    return array.get() if hasattr(array, "get") else np.asarray(array)


def _bar_off(progress):
    """tqdm's ``disable`` for ``progress``: True draws a bar, False none, None one only on a terminal."""
    return None if progress is None else not progress


def estimate_ldm(features_pool, features_sample, kernel, bias, *, rng, stop_cond=10, sigmas=None, xp=None,
                 max_chunk=128, progress=None):
    """Return the estimated LDM of every pool sample, a float32 NumPy array of shape (n_pool,).

    The last layer (kernel d x C, bias C) is perturbed with Gaussian noise of growing sigma. A draw
    that flips a pool sample's prediction bounds its LDM by rho, the fraction of the sampling set
    that the same draw flips; the LDM is the smallest such rho (1 if no draw ever flipped it).
    Each sigma ends after ``stop_cond`` consecutive draws that lowered no LDM. Draws are evaluated
    up to ``max_chunk`` at a time; the values are exactly those of one draw at a time. ``progress``: True
    draws a bar of the sigma levels on stderr, False none, None (the default) one only if stderr is a terminal.
    """
    sigmas = SIGMAS if sigmas is None else sigmas
    with tqdm(total=len(sigmas), desc="LDM sigma grid", leave=False, disable=_bar_off(progress)) as bar:
        for levels_done, _, ldm in ldm_draws(features_pool, features_sample, kernel, bias, rng=rng,
                                             stop_cond=stop_cond, sigmas=sigmas, xp=xp, max_chunk=max_chunk):
            bar.update(levels_done - bar.n)
    return to_numpy(ldm).astype(np.float32)


def ldm_draws(features_pool, features_sample, kernel, bias, *, rng, stop_cond=10, sigmas=SIGMAS, xp=None,
              max_chunk=128, counts=None):
    """Run the LDM estimator; after every chunk of draws yield (sigma levels done, draws so far, ldm).

    ``ldm`` is the xp float64 array of the current values. Draw t uses row t of one stream of float32
    normals (kernel noise, then bias noise), whatever the chunking: rows drawn past the end of a sigma
    level are used by the next level, so the values equal those of one draw at a time. If ``counts`` is
    a dict, counts["evaluated"] is kept at the number of (row, draw) pairs, pool and sampling set
    together, that went through a matrix product so far.
    """
    xp = xp or array_module()
    rng = np.random.default_rng(rng)
    kernel = xp.asarray(kernel, dtype=xp.float32)
    bias = xp.asarray(bias, dtype=xp.float32)
    dim, n_classes = kernel.shape
    features_pool = xp.asarray(features_pool, dtype=xp.float32)
    features_sample = xp.asarray(features_sample, dtype=xp.float32)
    _require_finite(xp, features_pool=features_pool, features_sample=features_sample, kernel=kernel, bias=bias)
    pool = _Rows(features_pool, kernel, bias, xp)
    sample = _Rows(features_sample, kernel, bias, xp)
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
            noise = xp.asarray(spare[:size])
            kernels = xp.empty((dim, n_classes, size), dtype=xp.float32).transpose(2, 0, 1)  # stored as flips reads it
            xp.multiply(noise[:, : dim * n_classes].reshape(size, dim, n_classes), sigma, out=kernels)
            kernels += kernel
            biases = bias + sigma * noise[:, dim * n_classes :]
            reach = _reach(noise, sigma, dim, n_classes, xp)
            lowered, rows, offers = _chunk_effects(ldm, pool, sample, kernels, biases, reach, xp)
            taken = size
            for t, lowered_t in enumerate(to_numpy(lowered)):  # the algorithm's stop rule, draw by draw
                streak = 0 if lowered_t else streak + 1
                if streak == stop_cond:
                    taken = t + 1
                    break
            if len(rows):
                ldm[rows] = xp.minimum(ldm[rows], offers[:, :taken].min(axis=1))
            spare, level_draws, draws = spare[taken:], level_draws + taken, draws + taken
            if counts is not None:
                counts["evaluated"] = pool.evaluated + sample.evaluated
            yield level + (streak == stop_cond), draws, ldm


@functools.cache
def _blas():
    """Return the threadpoolctl controller of NumPy's BLAS, found once."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


@functools.cache
def _pool(workers):
    """Return a pool of ``workers`` threads, made once per count."""
    return ThreadPoolExecutor(workers)


def _in_parallel(work, n_rows, block):
    """Call ``work(start, stop)`` on consecutive row ranges covering 0..n_rows, of at most ``block`` rows and
    at least one per worker when there are that many rows, from as many worker threads as the BLAS has
    threads (the CPUs, or LDMS_THREADS), each with a one-thread BLAS: independent products keep every core
    busy without the BLAS threads of one product waiting on each other, and the work after each product
    runs in parallel too. Return when all are done."""
    blas = _blas()
    workers = max([library["num_threads"] for library in blas.info()], default=1)
    size = max(1, min(block, -(-n_rows // workers)))
    with blas.limit(limits=1):
        list(_pool(workers).map(lambda start: work(start, min(start + size, n_rows)), range(0, n_rows, size)))


class _Rows:
    """Features of a set of samples with what the estimator needs of them once: the unperturbed
    prediction, the logit margin of the top class over the runner-up, and the feature norms."""

    BLOCK = 2**19  # logits per matrix product (2 MiB)

    def __init__(self, features, kernel, bias, xp):
        self.xp = xp
        self.features = xp.asarray(features, dtype=xp.float32)
        self.size = len(self.features)
        logits = self.features @ kernel + bias
        top_two = xp.sort(logits, axis=1)[:, -2:].astype(xp.float64)
        self.prediction = xp.argmax(logits, axis=1)
        self.margin = top_two[:, 1] - top_two[:, 0]
        self.norm = xp.sqrt(xp.einsum("ij,ij->i", self.features, self.features).astype(xp.float64))
        self.by_margin = xp.argsort(self.margin)  # the rows a reach can leave in come first
        self.sorted_margin = self.margin[self.by_margin]
        self.largest_norm = float(self.norm.max()) if self.size else 0.0
        self.weights = float(xp.linalg.norm(kernel, axis=0).max()), float(xp.abs(bias).max())  # for the slack
        self.rounding = 8 * (kernel.shape[0] + 2) * 2.0**-24  # a d-term float32 dot product, with room to spare
        self.evaluated = 0  # (row, draw) pairs through the matrix product

    def flip_candidates(self, reach):
        """Return the rows, ascending, whose prediction a draw within ``reach`` (from ``_reach``) can change.

        A draw changes the logit gap of classes c and c' by at most |h| * |dW_c - dW_c'| + |db_c - db_c'|
        (Cauchy-Schwarz). The slack covers float32 rounding of the logits, unperturbed and perturbed (in
        any order of summation, also the literal one's): each is off by at most (d + 1) * 2^-24 of the sum
        of its terms' magnitudes, |h| (|W_c| + |dW_c|) + |b_c| + |db_c|; the margin is a difference of two,
        the flip test another. The bound grows with |h|, so only the rows with a margin below its value at
        the largest |h| (a prefix of the rows by margin) are looked at.
        """
        xp = self.xp
        reach_kernel, reach_bias, change_kernel, change_bias = reach
        kernel_norm, bias_size = self.weights

        def bound(norm):
            scale = norm * (kernel_norm + change_kernel) + bias_size + change_bias
            return norm * reach_kernel + reach_bias + self.rounding * scale + 1e-6

        limit = xp.asarray([bound(self.largest_norm)])
        near = self.by_margin[: int(xp.searchsorted(self.sorted_margin, limit, side="right")[0])]
        return xp.sort(near[self.margin[near] <= bound(self.norm[near])])

    def flips(self, rows, kernels, biases):
        """Return a (len(rows), n_draws) mask: does draw t change the prediction (the argmax) of row i?

        The rows go by blocks, one per worker thread at a time (``_in_parallel``). A block gets its logits
        from one matrix product, laid out (rows, classes, draws): the biases are added, each row's
        predicted logit is read out and replaced by -inf, and the best other logit is a running maximum
        over the classes, each step a pass over (rows, draws). A draw flips a row if that beats the
        predicted logit, or equals it with a lower class (argmax takes the first).
        """
        xp = self.xp
        n_draws, dim, n_classes = kernels.shape
        stacked = kernels.transpose(1, 2, 0).reshape(dim, n_classes * n_draws)  # no copy for ldm_draws' kernels
        offsets = biases.T.reshape(n_classes * n_draws)
        flipped = xp.empty((len(rows), n_draws), dtype=bool)
        self.evaluated += len(rows) * n_draws
        every_row = len(rows) == self.size  # then rows is 0..size-1: slices, no copies

        def flip_block(start, stop):
            block_rows = rows[start:stop]
            features = self.features[start:stop] if every_row else self.features[block_rows]
            logits = features @ stacked
            logits += offsets
            logits = logits.reshape(len(block_rows), n_classes, n_draws)
            at = xp.arange(len(block_rows))
            predicted = self.prediction[block_rows]
            kept = logits[at, predicted]  # the logit of the unperturbed prediction, (rows, draws)
            logits[at, predicted] = -xp.inf
            rival = logits[:, 0].copy()  # the best other logit
            for c in range(1, n_classes):
                xp.maximum(rival, logits[:, c], out=rival)
            flipped_block = rival > kept
            ties = rival == kept
            if ties.any():  # argmax takes the first of equal logits
                tied_rows, tied_draws = xp.nonzero(ties)
                first = (logits[tied_rows, :, tied_draws] == kept[tied_rows, tied_draws][:, None]).argmax(axis=1)
                flipped_block[tied_rows, tied_draws] = first < predicted[tied_rows]
            flipped[start:stop] = flipped_block

        _in_parallel(flip_block, len(rows), self.BLOCK // (n_draws * n_classes))
        return flipped

    def disagreement(self, kernels, biases, reach):
        """Return rho of each draw: the fraction of rows whose prediction it changes (float64)."""
        rows = self.flip_candidates(reach)
        return self.xp.count_nonzero(self.flips(rows, kernels, biases), axis=0) / self.size


def _reach(noise, sigma, dim, n_classes, xp):
    """Return the largest change a draw of this chunk makes to a kernel column difference, to a bias
    difference, to a kernel column and to a bias: (max_t,c,c' |dW_c - dW_c'|, max_t,c,c' |db_c - db_c'|,
    max_t,c |dW_c|, max_t,c |db_c|), floats."""
    deltas = sigma * noise.astype(xp.float64)
    delta_kernels = deltas[:, : dim * n_classes].reshape(len(noise), dim, n_classes)
    gram = delta_kernels.transpose(0, 2, 1) @ delta_kernels
    squares = xp.diagonal(gram, axis1=1, axis2=2)
    reach_kernel = xp.sqrt(xp.maximum(squares[:, :, None] + squares[:, None, :] - 2 * gram, 0).max())
    delta_biases = deltas[:, dim * n_classes :]
    reach_bias = (delta_biases.max(axis=1) - delta_biases.min(axis=1)).max()
    return float(reach_kernel), float(reach_bias), float(xp.sqrt(squares.max())), float(xp.abs(delta_biases).max())


def _chunk_effects(ldm, pool, sample, kernels, biases, reach, xp):
    """Return (lowered, rows, offers) for a chunk of draws applied to ``ldm`` one after another:
    lowered[t] says draw t lowers some LDM, and after the first t draws ``ldm[rows]`` is
    ``minimum(ldm[rows], offers[:, :t].min(axis=1))``; the other pool samples cannot be lowered in this chunk.
    Only rows that can change the result are evaluated: those within the chunk's reach and, in the pool,
    those whose LDM is above the chunk's smallest rho; the sampling set only when such pool rows exist.

    Draw t lowers row i if it flips the row with a rho below its LDM ("offers" it) and no earlier draw
    offered it a rho at or below this one: the earlier offers are counted with one small matrix product."""
    n_draws = len(kernels)
    rows = pool.flip_candidates(reach)
    rows = rows[ldm[rows] > 0]
    if len(rows) == 0:
        return xp.zeros(n_draws, dtype=bool), rows, None
    rho = sample.disagreement(kernels, biases, reach)
    rows = rows[ldm[rows] > rho.min()]  # a draw with rho cannot lower an LDM at or below rho
    offered = pool.flips(rows, kernels, biases) & (rho < ldm[rows, None])
    kept = offered.any(axis=1)
    rows, offered = rows[kept], offered[kept]
    earlier = xp.triu(rho[:, None] <= rho, k=1)  # earlier[s, t]: draw s comes before t, with a rho no larger
    beaten = offered.astype(xp.float32) @ earlier.astype(xp.float32) > 0  # integer counts: exact in float32
    return (offered & ~beaten).any(axis=0), rows, xp.where(offered, rho, xp.inf)


def seeding_weights(sorted_ldm, n_query, xp=np):
    """Return gamma for LDM values sorted ascending (docs/algorithm.md sections 3.2-3.3), an array of the same length.

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


def ldm_seeding(ldm, features, n_query, *, rng, xp=None, refresh=32, progress=None):
    """Return ``n_query`` distinct pool positions (NumPy int64 array, in the order chosen) by LDM-S.

    The smallest LDM is taken first; each next sample is drawn with probability proportional to
    (gamma_i * D_i)^2, D_i being its cosine distance to the nearest sample chosen so far (a weighted
    k-means++). If every remaining weight is 0, the rest are the smallest-LDM samples not chosen yet.

    No pool x pool matrix is built: D is brought up to date for ``refresh`` chosen samples at a time,
    with one matrix product. In between, a sample is proposed from the weights of the last update (a
    cumulative sum and a binary search) and accepted with probability (D_now / D_then)^2, D_now taking
    the samples chosen since into account: rejection sampling, so each pick follows the algorithm's
    distribution exactly. Samples with gamma = 0 can never be drawn and are left out from the start.
    ``progress`` is the bar's switch as in ``estimate_ldm``.
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
    with tqdm(total=n_query, initial=1, desc="LDM-S seeding", leave=False, disable=_bar_off(progress)) as bar:
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
                bar.update(1)
            else:
                rejections += 1
    picked = to_numpy(drawable)[chosen].tolist()
    if len(picked) < n_query:  # every remaining weight is 0: the smallest LDM not chosen yet
        taken = set(picked)
        picked += [i for i in to_numpy(order).tolist() if i not in taken][: n_query - len(picked)]
    return np.asarray(picked, dtype=np.int64)


def select_ldms(features_pool, features_sample, kernel, bias, n_query, *, rng, xp=None, timings=None,
                progress=None):
    """Return the ``n_query`` pool positions (NumPy int64 array) LDM-S picks, from the model's arrays.

    The perturbations and the seeding draw from two independent streams spawned from ``rng``. If
    ``timings`` is a dict, the seconds spent in 'estimation' and 'seeding' are added to it. ``progress``
    is the bars' switch as in ``estimate_ldm``.
    """
    noise_rng, seeding_rng = np.random.default_rng(rng).spawn(2)
    timings = {} if timings is None else timings
    with timed(timings, "estimation"):
        ldm = estimate_ldm(features_pool, features_sample, kernel, bias, rng=noise_rng, xp=xp, progress=progress)
    with timed(timings, "seeding"):
        picked = ldm_seeding(ldm, features_pool, n_query, rng=seeding_rng, xp=xp, progress=progress)
    return picked
