"""The LDM code on CuPy against NumPy, on the synthetic problems of bench/problems.py (run on a GPU).

    python3 bench/gpu_ldm.py                       # all checks and timings
    python3 bench/gpu_ldm.py --check mnist --time mnist cifar10 --seeds 5

Agreement (--check): for each setting, the LDM of both array modules from the same noise, the share of
equal values (float32 sums on the GPU may round differently) and their Spearman correlation; then LDM-S
picks over --seeds seeds: the share of seeds whose picks are identical and the total variation between the
two modules' per-sample selection frequencies (0: the same frequencies; 1: disjoint picks).
Timings (--time): seconds of the estimator (its draws) and the seeding on CuPy, after a warm-up that
compiles the kernels; the estimator stops after --max-seconds, and its time per draw is reported.
Prints Markdown tables.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
os.environ.setdefault("TQDM_DISABLE", "1")

from bench_ldms import SETTINGS  # noqa: E402
from ldm import array_module, estimate_ldm, ldm_draws, ldm_seeding, select_ldms, to_numpy  # noqa: E402
from problems import margin_ldm, synthetic_problem  # noqa: E402


def problem(setting):
    """Return the synthetic (features_pool, features_sample, kernel, bias) and n_query of a setting."""
    n_pool, n_sample, dim, n_classes, n_query = SETTINGS[setting]
    return synthetic_problem(n_pool, n_sample, dim, n_classes), n_query


def agreement(setting, gpu, seeds):
    """Return a table row comparing NumPy and ``gpu`` on one setting."""
    arrays, n_query = problem(setting)
    ldm_cpu = estimate_ldm(*arrays, rng=0, xp=np)
    ldm_gpu = estimate_ldm(*arrays, rng=0, xp=gpu)
    frequency_cpu, frequency_gpu, identical = np.zeros(len(ldm_cpu)), np.zeros(len(ldm_cpu)), 0
    for seed in range(seeds):
        picks_cpu = select_ldms(*arrays, n_query, rng=seed, xp=np)
        picks_gpu = select_ldms(*arrays, n_query, rng=seed, xp=gpu)
        identical += np.array_equal(picks_cpu, picks_gpu)
        frequency_cpu[picks_cpu] += 1
        frequency_gpu[picks_gpu] += 1
    variation = np.abs(frequency_cpu - frequency_gpu).sum() / (2 * seeds * n_query)
    return (f"| {setting} | {np.mean(ldm_cpu == ldm_gpu):.4f} | {spearmanr(ldm_cpu, ldm_gpu).statistic:.6f} | "
            f"{identical}/{seeds} | {variation:.4f} |")


def timing(setting, gpu, max_seconds):
    """Return a table row with the estimator's draws and seconds and the seeding's seconds on ``gpu``."""
    (pool, sample, kernel, bias), n_query = problem(setting)
    pool_gpu, sample_gpu = gpu.asarray(pool), gpu.asarray(sample)
    started, finished = time.perf_counter(), True
    for levels_done, draws, ldm in ldm_draws(pool_gpu, sample_gpu, kernel, bias, rng=0, xp=gpu):
        if time.perf_counter() - started > max_seconds:
            finished = False
            break
    synchronize(gpu)
    estimation = time.perf_counter() - started
    ldm = to_numpy(ldm).astype(np.float32) if finished else margin_ldm(pool, kernel, bias)
    started = time.perf_counter()
    ldm_seeding(ldm, pool_gpu, n_query, rng=0, xp=gpu)
    synchronize(gpu)
    seeding = time.perf_counter() - started
    status = "all" if finished else f"stopped after {max_seconds:.0f} s, at sigma level {levels_done}"
    return (f"| {setting} | {len(pool):,} | {draws:,} ({status}) | {estimation:.2f} | "
            f"{1e3 * estimation / draws:.3f} | {seeding:.2f}{'' if finished else ' (stand-in LDM)'} |")


def synchronize(xp):
    """Wait for the GPU to finish its queued work (nothing to do on NumPy)."""
    if xp is not np:
        xp.cuda.get_current_stream().synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", nargs="*", default=["mnist", "cifar10"], choices=SETTINGS)
    parser.add_argument("--time", nargs="*", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--seeds", type=int, default=10, help="seeds of the selection-frequency comparison")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="cap on one estimator timing")
    args = parser.parse_args()
    gpu = array_module()
    name = gpu.__name__
    print(f"array module {name} {gpu.__version__}")
    if args.check:
        print(f"\nNumPy against {name}, same noise\n")
        print("| setting | equal LDM values | Spearman | identical LDM-S picks | selection-frequency total variation |")
        print("|---|---|---|---|---|")
        for setting in args.check:
            print(agreement(setting, gpu, args.seeds), flush=True)
    if args.time:
        timing("mnist", gpu, args.max_seconds)  # warm-up: compiles the kernels
        print(f"\n{name} timings\n")
        print("| setting | pool | draws | estimator s | ms per draw | seeding s |")
        print("|---|---|---|---|---|---|")
        for setting in args.time:
            print(timing(setting, gpu, args.max_seconds), flush=True)


if __name__ == "__main__":
    main()
