"""How fast one machine gets through a grid of MNIST repetitions, per way of splitting its cores.

Each configuration runs the same small grid (strategies x repetitions, each job one `run_mnist.py` process
for one repetition) with P processes at a time and T threads each (LDMS_THREADS), on one Keras backend. It
prints the wall time of the whole grid per configuration and whether each job's results file is byte-identical to the first configuration's of the same backend. XLA compilation is
always on with JAX; TensorFlow has none here, since Keras turns it off where ops are deterministic.

    python3 bench/grid_throughput.py --data-dir DIR [--configs tensorflow:1x0 tensorflow:2x1 jax:2x1 ...]

A configuration is BACKEND:PxT; T = 0 leaves the framework's default thread count.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from layout import repetition_files, repetition_numbers  # noqa: E402

DEFAULT_CONFIGS = ["tensorflow:1x0", "tensorflow:2x1", "tensorflow:2x0", "jax:1x0", "jax:2x1"]
# 20, 470 and 920 labeled samples: three models spread over the paper's MNIST range, at the comparison's
# 20 epochs and 1,000 validation images
GRID_FLAGS = ["--nEpoch", "20", "--nValid", "1000", "--nStep", "2", "--nQuery", "450", "--nRep", "1"]


def parse_config(text):
    """Return (backend, processes, threads) of 'BACKEND:PxT'."""
    backend, split = text.split(":")
    processes, threads = (int(part) for part in split.split("x"))
    return backend, processes, threads


def job_command(strategy, seed, out, data_dir, threads):
    """Return (argv, extra environment) of one job: repetition ``seed`` of ``strategy``, in a folder of its own."""
    env = {"LDMS_THREADS": str(threads)} if threads else {}
    argv = [sys.executable, str(ROOT / "run_mnist.py"), *GRID_FLAGS, "--strategy", strategy, "--seed", str(seed),
            "--out", str(Path(out) / f"seed{seed}"), "--data-dir", data_dir]
    return argv, env


def run_grid(config, strategies, seeds, out, data_dir):
    """Run every (strategy, seed) job of the grid under ``config``; return the wall seconds."""
    backend, processes, threads = parse_config(config)

    def run_job(job):
        argv, extra = job_command(*job, out, data_dir, threads)
        env = dict(os.environ, KERAS_BACKEND=backend, **extra)
        done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            raise RuntimeError(f"{config} {job}: exit {done.returncode}\n{done.stderr[-2000:]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(processes) as pool:
        list(pool.map(run_job, [(strategy, seed) for strategy in strategies for seed in seeds]))
    return time.perf_counter() - started


def result_files(out):
    """Return {relative path: bytes} of the results files of the grid's jobs under ``out`` (a folder per job,
    each holding the run's results folders); RuntimeError where a job left none."""
    files = {}
    for job in sorted(folder for folder in Path(out).iterdir() if folder.is_dir()):
        paths = [repetition_files(folder, number - 1).results
                 for folder in sorted(folder for folder in job.iterdir() if folder.is_dir())
                 for number in repetition_numbers(folder, ("results",))]
        if not paths:
            raise RuntimeError(f"job {job.name} wrote no results file under {job}")
        files |= {str(path.relative_to(out)): path.read_bytes() for path in paths}
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("LDMS_DATA_DIR"))
    parser.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS)
    parser.add_argument("--strategies", nargs="+", default=["ldms", "random"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args()
    jobs = len(args.strategies) * len(args.seeds)
    print(f"grid: {' '.join(args.strategies)} x seeds {' '.join(map(str, args.seeds))}, {' '.join(GRID_FLAGS)}; "
          f"{os.cpu_count()} CPUs", flush=True)
    print("| configuration | processes x threads | wall time | per job | results as the backend's first |")
    print("|---|---|---|---|---|")
    first = {}
    with tempfile.TemporaryDirectory() as scratch:
        for index, config in enumerate(args.configs):
            out = Path(scratch) / str(index)
            seconds = run_grid(config, args.strategies, args.seeds, out, args.data_dir)
            backend, processes, threads = parse_config(config)
            files = result_files(out)
            same = first.setdefault(backend, files) == files
            print(f"| {backend} | {processes} x {threads or 'default'} | {seconds:.0f} s | "
                  f"{seconds / jobs:.0f} s | {'identical' if same else 'DIFFERENT'} |", flush=True)


if __name__ == "__main__":
    main()
