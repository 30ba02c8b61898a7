"""Random but realistic LDM inputs: class-clustered non-negative features and a linear head."""
import numpy as np


def synthetic_problem(n_pool, n_sample, dim, n_classes, seed=0):
    """Return (features_pool, features_sample, kernel, bias), float32, like a ReLU penultimate layer of
    a classifier that is right on most samples and unsure near its class boundaries."""
    rng = np.random.default_rng(seed)
    active = rng.random((n_classes, dim)) < 0.25
    prototypes = (active * rng.gamma(2.0, 0.15, size=(n_classes, dim))).astype(np.float32)

    def features(n, block=65536):
        labels = rng.integers(n_classes, size=n)
        out = np.empty((n, dim), dtype=np.float32)
        for start in range(0, n, block):
            rows = labels[start : start + block]
            noisy = prototypes[rows] + rng.standard_normal((len(rows), dim), dtype=np.float32)
            np.maximum(noisy, 0, out=out[start : start + block])
        return out

    kernel = ((prototypes - prototypes.mean(axis=0)) * 0.5).T.astype(np.float32)
    bias = rng.normal(0, 0.1, size=n_classes).astype(np.float32)
    return features(n_pool), features(n_sample), kernel, bias


def margin_ldm(features, kernel, bias, n_sample=10_000):
    """Return a stand-in LDM, fractions k / n_sample growing with the logit margin: what a finished
    estimator gives in spirit (small near the boundary), for the seeding where the estimator cannot finish."""
    logits = features @ kernel + bias
    top_two = np.sort(logits, axis=1)[:, -2:]
    margin = top_two[:, 1] - top_two[:, 0]
    return np.minimum(np.round(margin / margin.max() * n_sample) / n_sample, 1).astype(np.float32)
