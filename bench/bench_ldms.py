"""Benchmark of the LDM-S query: the literal algorithm (tests/reference.py) against ldm.py.

    python3 bench/bench_ldms.py                      # all settings, 3 runs each (about 25 minutes on 2 cores)
    python3 bench/bench_ldms.py --settings mnist cifar10 --runs 1
    python3 bench/bench_ldms.py --settings mnist-real cifar10-real   # after bench/save_features.py

Prints a Markdown table: draws of the estimator, seconds of the literal and the fast estimator and
seeding (median of the runs), speedups, and the peak memory the fast side allocates (tracemalloc,
inputs excluded). The literal side is skipped where it would not fit in memory or time; the table says
what it would need (its time per draw, measured on a few hundred draws, times the fast side's draws).
'rows evaluated' is the share of the literal's (row, draw) evaluations that the fast estimator did not
skip. Then a second table, the estimator against its floor: the (row, draw) pairs it evaluated, the
float32 matrix-product rate measured just before each of its runs (``matrix_rate``; median over the
runs), the floor (pairs x d x C multiply-adds at that rate) and the ratio of the estimator's median time
to it. The '-real' settings read the penultimate features of a briefly trained S-CNN and K-CNN, saved by
bench/save_features.py.
"""
import argparse
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).resolve().parent)]
os.environ.setdefault("TQDM_DISABLE", "1")

from ldm import _in_parallel, array_module, ldm_draws, ldm_seeding, to_numpy  # noqa: E402
from problems import margin_ldm, synthetic_problem  # noqa: E402
from reference import literal_ldm, literal_seeding  # noqa: E402

SETTINGS = {  # name: pool, sampling set, feature dim, classes, queries
    "mnist": (2_000, 2_000, 128, 10, 20),
    "cifar10": (4_000, 4_000, 512, 10, 400),
    "large": (100_000, 10_000, 512, 10, 1_000),
    "huge": (1_000_000, 10_000, 512, 10, 1_000),
    "mnist-real": (2_000, 2_000, 128, 10, 20),
    "cifar10-real": (4_000, 4_000, 512, 10, 400),
}
FEATURES = ROOT / "results" / "features"  # written by bench/save_features.py
LITERAL_ESTIMATOR_LIMIT = 20_000  # pool + sampling rows; above it the literal estimator is only timed per draw
LITERAL_SEEDING_LIMIT = 10_000  # pool rows; above it the n x n matrix does not fit
HUGE_ESTIMATOR_SECONDS = 120


RATE_SHAPE = (4_000, 512, 1_280)  # rows x d x (draws x classes) of the product whose rate is the floor's


def matrix_rate(repeats=5):
    """Return the float32 matrix-product rate of this machine now, in multiply-adds a second: the faster
    of two medians of ``repeats`` products of the RATE_SHAPE, one product with every BLAS thread and the
    rows split over ldm.py's worker threads, one BLAS thread each (as the estimator runs its products;
    on shared cores the BLAS threads of one product wait on each other)."""
    rows, dim, columns = RATE_SHAPE
    rng = np.random.default_rng(0)
    left = rng.standard_normal((rows, dim), dtype=np.float32)
    right = rng.standard_normal((dim, columns), dtype=np.float32)
    out = np.empty((rows, columns), dtype=np.float32)

    def split():
        _in_parallel(lambda start, stop: np.matmul(left[start:stop], right, out=out[start:stop]), rows, rows)

    seconds = []
    for product in (lambda: np.matmul(left, right, out=out), split):
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            product()
            times.append(time.perf_counter() - started)
        seconds.append(statistics.median(times))
    return rows * dim * columns / min(seconds)


def measured(function, runs, rates=None):
    """Return (median seconds, peak MiB allocated during the first run, result of the last run). If ``rates``
    is a list, the matrix-product rate measured just before each run is appended to it."""
    times, peak = [], None
    for run in range(runs):
        if rates is not None:
            rates.append(matrix_rate())
        if run == 0:
            tracemalloc.start()
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
        if run == 0:
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    return statistics.median(times), peak, result


def fast_estimator(problem, seed, deadline=None, counts=None):
    """Return (draws, ldm as NumPy, finished) of ldm.py's estimator, stopped at ``deadline`` if given."""
    draws, ldm, finished = 0, None, True
    for _, draws, ldm in ldm_draws(*problem, rng=seed, counts=counts):
        if deadline is not None and time.perf_counter() > deadline:
            finished = False
            break
    return draws, to_numpy(ldm).astype(np.float32), finished


def load_problem(name):
    """Return (features_pool, features_sample, kernel, bias) of a setting: saved real features or synthetic."""
    if name.endswith("-real"):
        path = FEATURES / f"{name.removesuffix('-real')}.npz"
        if not path.exists():
            sys.exit(f"error: {path} not found: run bench/save_features.py --data-dir DIR first")
        saved = np.load(path)
        return tuple(saved[key] for key in ("features_pool", "features_sample", "kernel", "bias"))
    n_pool, n_sample, dim, n_classes, _ = SETTINGS[name]
    return synthetic_problem(n_pool, n_sample, dim, n_classes, seed=0)


def evaluated_share(counts, n_rows, draws):
    """Return the (row, draw) pairs the fast estimator put through a matrix product, as a share of the
    literal one's (every row of pool and sampling set at every draw)."""
    return f"{100 * counts['evaluated'] / (n_rows * draws):.0f}%"


def bench_setting(name, runs, xp_name):
    problem = load_problem(name)
    n_query = SETTINGS[name][-1]
    (n_pool, dim), n_sample, n_classes = problem[0].shape, len(problem[1]), len(problem[3])
    row = {"setting": name, "shape": f"{n_pool:,} / {n_sample:,} / {dim} / {n_classes} / {n_query:,}"}
    counts, rates = {}, []
    if name == "huge":
        rates.append(matrix_rate())
        started = time.perf_counter()
        draws, ldm, finished = fast_estimator(problem, 0, deadline=started + HUGE_ESTIMATOR_SECONDS, counts=counts)
        seconds = time.perf_counter() - started
        row["draws"] = f"{draws:,}" + ("" if finished else f" after {seconds:.0f} s")
        row["fast_estimator"] = f"{seconds:.1f} s ({1000 * seconds / draws:.1f} ms/draw)"
        row["fast_estimator_mem"] = "-"
        fast_seconds = None
    else:
        fast_seconds, peak, (draws, ldm, _) = measured(lambda: fast_estimator(problem, 0, counts=counts), runs, rates)
        row["draws"] = f"{draws:,}"
        row["fast_estimator"] = f"{fast_seconds:.2f} s"
        row["fast_estimator_mem"] = f"{peak:.0f} MiB"
    row["evaluated"] = evaluated_share(counts, n_pool + n_sample, draws)
    rate = statistics.median(rates)
    floor = counts["evaluated"] * dim * n_classes / rate
    row["pairs"] = f"{counts['evaluated'] / 1e6:,.1f} M"
    row["rate"] = f"{2 * rate / 1e9:.0f} GFLOP/s"
    row["floor"] = f"{floor:.2f} s"
    row["ratio"] = f"{(fast_seconds or seconds) / floor:.2f}x"
    if n_pool + n_sample <= LITERAL_ESTIMATOR_LIMIT and fast_seconds is not None:
        literal_seconds, _, (literal_ldm_values, _) = measured(
            lambda: literal_ldm(*problem, np.random.default_rng(0)), runs)
        assert np.array_equal(literal_ldm_values, ldm), "the fast estimator must equal the literal one"
        row["literal_estimator"] = f"{literal_seconds:.2f} s"
        row["estimator_speedup"] = f"{literal_seconds / fast_seconds:.1f}x"
    else:
        sample_draws = 200
        started = time.perf_counter()
        literal_ldm(*problem, np.random.default_rng(0), max_draws=sample_draws)
        per_draw = (time.perf_counter() - started) / sample_draws
        estimate = per_draw * draws
        row["literal_estimator"] = f"skipped: {1000 * per_draw:.0f} ms/draw, ~{estimate / 60:.0f} min for {draws:,} draws"
        row["estimator_speedup"] = (f"~{estimate / fast_seconds:.0f}x (est.)" if fast_seconds
                                    else f"~{per_draw * 1000 / (1000 * seconds / draws):.1f}x per draw")

    seed_features = problem[0]
    if name == "huge":  # the estimator did not finish: seed from a stand-in LDM where every sample can be drawn
        ldm = margin_ldm(problem[0], problem[2], problem[3], n_sample)
        row["fast_seeding_note"] = " (stand-in LDM)"
    fast_seeding_seconds, peak, picked = measured(
        lambda: ldm_seeding(ldm, seed_features, n_query, rng=1), runs)
    assert len(set(picked.tolist())) == n_query
    row["fast_seeding"] = f"{fast_seeding_seconds:.2f} s" + row.pop("fast_seeding_note", "")
    row["fast_seeding_mem"] = f"{peak:.0f} MiB"
    if n_pool <= LITERAL_SEEDING_LIMIT:
        literal_seconds, literal_peak, _ = measured(
            lambda: literal_seeding(ldm, seed_features, n_query, np.random.default_rng(1)), runs)
        row["literal_seeding"] = f"{literal_seconds:.2f} s ({literal_peak:.0f} MiB)"
        row["seeding_speedup"] = f"{literal_seconds / fast_seeding_seconds:.0f}x"
    else:
        row["literal_seeding"] = f"skipped: the distance matrix needs {8 * n_pool**2 / 2**30:,.0f} GiB"
        row["seeding_speedup"] = "-"
    print(f"done {name}: {row}", file=sys.stderr, flush=True)
    return row


COLUMNS = [("setting", "setting"), ("shape", "pool / S / dim / classes / queries"), ("draws", "draws"),
           ("literal_estimator", "literal estimator"), ("fast_estimator", "fast estimator"),
           ("estimator_speedup", "speedup"), ("fast_estimator_mem", "fast estimator peak"),
           ("evaluated", "rows evaluated"),
           ("literal_seeding", "literal seeding (peak)"), ("fast_seeding", "fast seeding"),
           ("seeding_speedup", "speedup"), ("fast_seeding_mem", "fast seeding peak")]
FLOOR_COLUMNS = [("setting", "setting"), ("pairs", "pairs evaluated"), ("rate", "float32 matrix rate"),
                 ("floor", "floor"), ("fast_estimator", "fast estimator"), ("ratio", "estimator / floor"),
                 ("fast_estimator_mem", "fast estimator peak")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS)[:4])
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (the median is shown)")
    args = parser.parse_args()
    xp = array_module()
    print(f"array module: {xp.__name__}; {os.cpu_count()} CPUs; numpy {np.__version__}", file=sys.stderr)
    rows = [bench_setting(name, args.runs, xp.__name__) for name in args.settings]
    for columns in (COLUMNS, FLOOR_COLUMNS):
        print("| " + " | ".join(title for _, title in columns) + " |")
        print("|" + "---|" * len(columns))
        for row in rows:
            print("| " + " | ".join(row.get(key, "-") for key, _ in columns) + " |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
