"""A literal implementation of SPEC section 2, one perturbation draw at a time: the tests' oracle.

Written for clarity, not speed, and independently of ldm.py. It draws its noise in the same
layout as ldm.py (one float32 vector per draw: the d x C kernel noise, then the C bias noise),
so with the same seed both see the same stream.
"""
import numpy as np


def literal_ldm(features_pool, features_sample, kernel, bias, rng, stop_cond=10, sigmas=None):
    """Return (ldm float32 array, list per sigma of the draws' 'lowered some ldm' flags)."""
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
