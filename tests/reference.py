"""The tests' oracle: docs/algorithm.md sections 2.1 (the LDM estimator) and 3.1-3.5 (the LDM-S seeding) written out
step by step, one perturbation draw and one pick at a time, to be read next to that text.

Written for clarity, not speed, and independently of ldm.py: none of section 2.2's or 3.6's shortcuts. Each draw
takes its noise as ldm.py does (one float32 vector: the d x C kernel noise, then the C bias noise), so with the
same generator both see the same stream.
"""
import numpy as np
from scipy.spatial.distance import cdist
from scipy.stats import rv_discrete

SIGMAS = [10.0 ** (-5 + 0.1 * k) for k in range(51)]  # 2.1: sigma_k = 10^(-5 + 0.1 k), k = 0 .. 50


def predicted_classes(h, W, b):
    """Return argmax(h W + b) for each row of ``h`` (2.1; argmax takes the first of equal logits)."""
    return np.argmax(h @ W + b, axis=1)


def literal_ldm(features_pool, features_sample, kernel, bias, rng, stop_cond=10, sigmas=None, max_draws=None):
    """Return (ldm, lowered): each pool sample's LDM as float32 (1 where no draw flipped it), and for each sigma
    in turn the list of its draws' flags, True where the draw lowered some pool sample's ldm.

    ``features_pool`` and ``features_sample`` are h(x) of the pool and of the sampling set S, ``kernel`` and
    ``bias`` the last layer's W (d x C) and b (C). ``stop_cond`` is the number of consecutive draws that lower
    nothing after which a sigma ends (10), ``sigmas`` the sigma grid (SIGMAS). ``max_draws`` stops after that
    many draws in all (for timing a few draws where the whole run would take too long); the last list then holds
    the unfinished sigma's draws. A draw evaluates every row of S and of the pool with one matrix product."""
    sigmas = SIGMAS if sigmas is None else sigmas
    W, b = np.float32(kernel), np.float32(bias)
    d, C = W.shape
    y0_pool = predicted_classes(features_pool, W, b)  # 2.1: y0(x), the unperturbed prediction
    y0_sample = predicted_classes(features_sample, W, b)
    ldm = np.ones(len(features_pool))  # 2.1: start with ldm(x) = 1 for every pool sample
    lowered = []
    draws = 0
    for sigma in sigmas:  # 2.1: each sigma in increasing order
        lowered_this_sigma = []
        streak = 0  # consecutive draws of this sigma that lowered no ldm
        while streak < stop_cond:
            if max_draws is not None and draws >= max_draws:
                return ldm.astype(np.float32), lowered + [lowered_this_sigma]
            # 2.1, one draw: e = dC + C float32 standard normals; W' = W + sigma e[:dC] (row-major, d x C),
            # b' = b + sigma e[dC:]
            e = rng.standard_normal(d * C + C, dtype=np.float32)
            W_perturbed = W + sigma * e[: d * C].reshape(d, C)
            b_perturbed = b + sigma * e[d * C :]
            draws += 1
            # 2.1: rho = the share of S whose prediction the perturbed weights change
            flipped_in_sample = predicted_classes(features_sample, W_perturbed, b_perturbed) != y0_sample
            rho = np.count_nonzero(flipped_in_sample) / len(features_sample)
            # 2.1: every flipped pool sample gets ldm(x) = min(ldm(x), rho); the draw lowered if one decreased
            flipped = predicted_classes(features_pool, W_perturbed, b_perturbed) != y0_pool
            draw_lowered = bool(np.any(rho < ldm[flipped]))
            ldm[flipped] = np.minimum(ldm[flipped], rho)
            lowered_this_sigma.append(draw_lowered)
            streak = 0 if draw_lowered else streak + 1  # 2.1: a draw that lowered restarts the count
        lowered.append(lowered_this_sigma)
    return ldm.astype(np.float32), lowered  # 2.1: float32, multiples of 1 / |S|


def literal_seeding(ldm, features, n_query, rng):
    """Return the ``n_query`` pool positions LDM-S picks, in the order picked (docs/algorithm.md 3.1-3.5).

    ``ldm`` is the pool's LDM, ``features`` its penultimate features h, ``rng`` draws every pick after the first
    with a discrete distribution object built for that pick. The full pool x pool distance matrix is built. Not
    covered: 3.4's zero feature vector (its cosine distances are NaN here) and 3.5's fallback when every remaining
    weight is 0 (the draw fails here)."""
    q = n_query
    # 3.1: order = pool positions by ascending ldm, stable; l_i = ldm[order[i]]
    order = np.argsort(ldm, kind="stable")
    l = np.asarray(ldm, dtype=np.float64)[order]
    # 3.2: l_q = l[q], the (q+1)-th smallest ldm; if 0, the smallest positive ldm; if every ldm is 0, 1
    l_q = l[q]
    if l_q == 0:
        positive = l[l > 0]  # in ascending order
        l_q = positive[0] if len(positive) else 1.0
    # 3.3: gamma_i = exp(-max(l_i - l_q, 0) / l_q); the tail, positions q .. nPool-1, scaled to sum to q; then
    # every gamma clipped at 1. gamma_in_order[i] belongs to pool position order[i].
    gamma_in_order = np.exp(-np.maximum(l - l_q, 0) / l_q)
    gamma_in_order[q:] *= q / gamma_in_order[q:].sum()
    gamma_in_order = np.minimum(gamma_in_order, 1)
    gamma = np.empty(len(l))  # by pool position
    gamma[order] = gamma_in_order
    # 3.4: cosine distances D(x, y) = 1 - <h(x), h(y)> / (|h(x)| |h(y)|); those below 1e-5 become 0
    cosine_distance = cdist(features, features, metric="cosine")
    cosine_distance[cosine_distance < 1e-5] = 0
    # 3.5: the first pick is order[0], the smallest ldm; D_i = the distance from sample i to the nearest pick
    picks = [int(order[0])]
    D = cosine_distance[order[0]].copy()
    while len(picks) < q:
        # 3.5: the next pick is drawn with probability proportional to (gamma_i D_i)^2
        weights = (gamma * D) ** 2
        probabilities = weights / weights.sum()
        pick = int(rv_discrete(values=(np.arange(len(weights)), probabilities)).rvs(random_state=rng))
        assert pick not in picks  # 3.5: a pick has D = 0, hence probability 0
        picks.append(pick)
        D = np.minimum(D, cosine_distance[pick])  # 3.5: D_i = min(D_i, D(i, pick))
    return np.asarray(picks)
