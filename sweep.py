"""Run a grid of datasets x strategies x repetitions on Ray: a local instance by default, or a cluster.

    python3 sweep.py --dataset mnist cifar10 --strategy ldms random entropy --nRep 5 [experiment flags]
                     [--address auto|HOST:PORT] [--cpus-per-job N] [--threads-per-job T] [--gpus-per-job G]
                     [--out DIR]

Each repetition is one Ray task running experiment.run for that repetition, so it resumes from its
saved state when Ray retries it after a worker or node died, and a re-run skips finished repetitions.
status.py tells where a grid stands; docs/cluster.md covers clusters.
"""
import argparse
import os
import socket
import sys
import uuid
from pathlib import Path

import backend
import quiet

if __name__ == "__main__":
    quiet.filter_stderr()  # before the framework loads: its start-up notices are dropped
    backend.exit_if_unusable()  # one line and exit code 2, before Keras fails on it
import experiment  # noqa: E402
import models
from data import DATASETS, load_dataset
from errors import UserError
from layout import DEFAULT_STRATEGY
from utils import writable_folder_problem

ROOT = Path(__file__).resolve().parent
UPLOAD_EXCLUDES = [".venv", ".git", "results", "docs", "bench", "tests", "**/__pycache__"]


def build_grid(argv):
    """Return (sweep options, [experiment args of each (dataset, strategy)]); the experiment flags are the
    run scripts' own, with each dataset's defaults. UserError or argparse's exit 2 for a bad grid."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="Any other flag is an "
                                     "experiment flag of run_mnist.py / run_cifar10.py (see their --help). "
                                     "Where a running grid stands: python3 status.py --out DIR --nRep N.")
    parser.add_argument("--dataset", nargs="+", default=["mnist"], help="datasets of the grid")
    parser.add_argument("--strategy", nargs="+", default=[DEFAULT_STRATEGY], help="strategies of the grid")
    parser.add_argument("--address", help="join this Ray cluster (auto, or HOST:PORT); default: a local instance")
    parser.add_argument("--cpus-per-job", type=float, default=1, help="CPUs Ray reserves for each repetition")
    parser.add_argument("--threads-per-job", type=int, default=1,
                        help="threads of each repetition's framework and BLAS (LDMS_THREADS; 0: the framework's "
                        "default, all cores): one job per core, one thread each, is as fast a split of a CPU as any "
                        "measured (docs/performance.md)")
    parser.add_argument("--gpus-per-job", type=float, default=0, help="GPUs for each repetition (0.5 shares a card)")
    parser.add_argument("--max-retries", type=int, default=3, help="retries of a repetition whose worker died")
    options, rest = parser.parse_known_args(argv)
    if options.threads_per_job < 0:
        raise UserError(f"--threads-per-job must be 0 (the framework's default) or more, got {options.threads_per_job}")
    grid = []
    for dataset in options.dataset:
        if dataset not in DATASETS:
            raise UserError(f"--dataset must be among {', '.join(DATASETS)}, got {dataset!r}")
        for strategy in options.strategy:
            args = experiment.build_parser(dataset).parse_args(rest + ["--dataset", dataset, "--strategy", strategy])
            args.out = str(Path(args.out).resolve())  # the same folder whatever a worker's directory
            args.data_dir = args.data_dir and str(Path(args.data_dir).resolve())
            experiment.check_counts(args)
            grid.append(args)
    return options, grid


def check_grid(grid):
    """Check every job against its data and make its results folder; return the folders. UserError first."""
    sizes = {}
    for args in grid:
        args.network = models.canonical_network(args.network)
        if args.dataset not in sizes:
            (_, y_train), _, n_classes = load_dataset(args.dataset, args.data_dir)
            sizes[args.dataset] = (len(y_train), n_classes)
        experiment.check_against_data(args, *sizes[args.dataset])
    return [experiment.results_folder(args) for args in grid]


def run_job(args, rep, marker):
    """One repetition, in a Ray worker: the experiment's own code, resuming from its saved state. A retry
    whose earlier worker still runs waits for it to let go of the repetition (a dead one holds nothing).
    UserError first if this node does not share the sweep's --out (it may have joined after the start)."""
    problem = probe_storage(args.out, marker)
    if problem:
        raise UserError(f"{problem}: --out must be storage that every node sees")
    return experiment.run(args, reps=[rep], wait=True)[rep]


def mark_storage(out):
    """Write a marker file into ``out`` for the nodes to look for; return its name."""
    marker = f".sweep-{uuid.uuid4().hex}"
    (Path(out) / marker).write_text(f"written by the sweep of host {socket.gethostname()} pid {os.getpid()}\n")
    return marker


def probe_storage(out, marker):
    """Return None if this node can write into ``out`` and finds ``marker`` there (it sees the storage the
    sweep wrote into), else what is wrong, naming the node."""
    host = socket.gethostname()
    problem = writable_folder_problem(out)
    if problem:
        return f"node {host} cannot write into --out {out} ({problem})"
    if not (Path(out) / marker).exists():
        return f"node {host} sees another --out {out}: the file {marker} the sweep wrote there is missing"
    return None


def start_ray(options):
    """Start a local Ray instance, or join the cluster at --address, shipping this project's code."""
    import ray

    env_vars = {name: os.environ[name] for name in ("KERAS_BACKEND", "LDMS_XP", "LDMS_DATA_DIR") if name in os.environ}
    env_vars["LDMS_THREADS"] = str(options.threads_per_job)
    runtime_env = {"working_dir": str(ROOT), "excludes": UPLOAD_EXCLUDES, "env_vars": env_vars}
    ray.init(address=options.address, runtime_env=runtime_env, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    return ray


def check_every_node(ray, out, marker):
    """Run one storage probe on each alive node; UserError if any cannot write into ``out`` or does not see
    the ``marker`` there (nodes that join later are probed by each job)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0)(probe_storage)
    nodes = [node["NodeID"] for node in ray.nodes() if node["Alive"]]
    problems = [p for p in ray.get([probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
                                    .remote(out, marker) for node in nodes]) if p]
    if problems:
        raise UserError("; ".join(problems) + ": --out must be storage that every node sees")


def start_over_if_fresh(grid, folders):
    """For --fresh, remove the grid's saved states and results here, once, and let the jobs resume: a job
    that Ray retries after a lost node then goes on from its first try's last step instead of starting over."""
    for args, folder in zip(grid, folders):
        if args.fresh:
            for rep in range(args.nRep):
                experiment.start_over(folder, rep)
            args.fresh = False


def run_grid(ray, options, grid, marker):
    """Submit every repetition, follow them with one progress bar; return {job name: error} of failures."""
    from tqdm import tqdm

    task = ray.remote(num_cpus=options.cpus_per_job, num_gpus=options.gpus_per_job,
                      max_retries=options.max_retries, retry_exceptions=False)(run_job)
    pending = {}
    for args in grid:
        for rep in range(args.nRep):
            pending[task.remote(args, rep, marker)] = f"{args.dataset} {args.network} {args.strategy} rep {rep + 1}"
    failures = {}
    with tqdm(total=len(pending), desc="repetitions", unit="rep", disable=None) as progress:  # terminals only
        while pending:
            progress.set_postfix(done=progress.n - len(failures), running=len(pending), failed=len(failures))
            ready, _ = ray.wait(list(pending), num_returns=1)
            name = pending.pop(ready[0])
            try:
                ray.get(ready[0])
            except Exception as error:  # a Python error in the task, or a worker that died too often
                failures[name] = "\n".join(str(error).strip().splitlines()[-4:])
            progress.update(1)
        progress.set_postfix(done=progress.n - len(failures), running=0, failed=len(failures))
    return failures


def main(argv=None):
    """Validate the grid, run it on Ray and print the summary; return the exit code (2: bad grid, 1: failures)."""
    marker = None
    try:
        options, grid = build_grid(argv)
        folders = check_grid(grid)
        marker = mark_storage(grid[0].out)
        ray = start_ray(options)
        check_every_node(ray, grid[0].out, marker)
        start_over_if_fresh(grid, folders)
        failures = run_grid(ray, options, grid, marker)
        ray.shutdown()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        if marker:
            (Path(grid[0].out) / marker).unlink(missing_ok=True)
    import plot_results

    figures = Path(grid[0].out)
    plot_results.main([str(folder) for folder in dict.fromkeys(folders)] + ["--out", str(figures)])
    print(f"figures and tables in {figures}")
    for name, error in failures.items():
        print(f"FAILED {name}:\n{error}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
