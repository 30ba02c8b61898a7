"""The LDM-S active learning experiment (docs/algorithm.md section 1): flags, repetitions and the acquisition loop.

Shared by run_mnist.py and run_cifar10.py, which differ only in their defaults (docs/algorithm.md section 5).
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import backend
import keras
import models
from tqdm.auto import trange

from checkpoint import State, append_step, hold_lock, keep_steps, load_state, save_state
from data import DATASETS, initial_split, load_dataset
from errors import RepetitionHeld, StorageError, TrainingDiverged, UserError
from flags import COUNTS, FLAGS, RECORDED
from layout import SETTINGS, folder_name, repetition_files
from ldm import SIGMAS, array_module
from strategies import NEEDS, STRATEGIES, get_strategy
from utils import atomic_write, timed, writable_folder_problem


def build_parser(dataset):
    """Return the argument parser of the run script for ``dataset`` with the algorithm's defaults."""
    parser = argparse.ArgumentParser(
        description=f"LDM-S active learning on {dataset} (Cho et al., ICLR 2024), faithful defaults.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for flag in FLAGS:
        default = getattr(flag, dataset)
        parser.add_argument(f"--{flag.name}", type=type(default), default=default,
                            help=flag.help.format(strategies=", ".join(STRATEGIES)))
    parser.add_argument("--fresh", action="store_true",
                        help="start every repetition over instead of resuming from its saved state")
    parser.add_argument("--data-dir", default=os.environ.get("LDMS_DATA_DIR"),
                        help="read the dataset files from this folder instead of downloading (env LDMS_DATA_DIR)")
    parser.add_argument("--out", default="results", help="results root folder")
    return parser


def check_counts(args):
    """Raise UserError for flag values no experiment can run with (checked before any data is loaded)."""
    if args.dataset not in DATASETS:
        raise UserError(f"--dataset must be one of {', '.join(DATASETS)}, got {args.dataset!r}")
    get_strategy(args.strategy)
    for flag in COUNTS:
        if getattr(args, flag) < 1:
            raise UserError(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    if args.nStep < 0:
        raise UserError(f"--nStep must be 0 or more, got {args.nStep}")
    if not 0 <= args.seed < 2**32 - args.nRep:
        raise UserError(f"--seed must be in 0..{2**32 - 1 - args.nRep} (seed + repetition is a NumPy seed), "
                        f"got {args.seed}")
    if args.nQuery >= args.nPool:
        raise UserError(f"--nQuery must be smaller than --nPool ({args.nPool}): the seeding needs the "
                        f"(nQuery+1)-th smallest LDM, got {args.nQuery}")


def check_against_data(args, n_train, n_classes):
    """Raise UserError for flag values the loaded training set cannot serve."""
    if args.nInit < n_classes:
        raise UserError(f"--nInit must be at least the number of classes ({n_classes}), got {args.nInit}")
    if args.nInit + args.nValid > n_train:
        raise UserError(f"--nInit + --nValid must be at most the training set size {n_train}, "
                        f"got {args.nInit + args.nValid}")
    if args.nSample > n_train:
        raise UserError(f"--nSample must be at most the training set size {n_train}, got {args.nSample}")
    unlabeled = n_train - args.nInit - args.nValid
    if args.nStep * args.nQuery >= unlabeled:
        raise UserError(f"--nStep x --nQuery ({args.nStep * args.nQuery}) must be smaller than the {unlabeled} "
                        "unlabeled training samples (training set - nInit - nValid)")


def results_folder(args):
    """Return (and create) {out}/{dataset}_{network}, with _{strategy} for any strategy but ldms; UserError
    if it cannot be written."""
    folder = Path(args.out) / folder_name(args.dataset, args.network, args.strategy)
    problem = writable_folder_problem(folder)
    if problem:
        raise UserError(f"--out: cannot write results into {folder} ({problem})")
    return folder


def write_accuracies(path, accuracies):
    """Atomically rewrite ``path`` with one '%.5f' accuracy per line (a crash leaves the old or the new file),
    unless it holds exactly those lines already: a finished repetition's file keeps its time of writing."""
    text = "".join(f"{accuracy:.5f}\n" for accuracy in accuracies)
    if path.exists() and path.read_text() == text:
        return
    atomic_write(path, lambda file: file.write(text))


class ValidationTimer(keras.callbacks.Callback):
    """Adds the seconds that ``fit`` spends in its per-epoch validation passes to ``timings['validation']``."""

    def __init__(self, timings):
        super().__init__()
        self.timings, self._started = timings, None

    def on_test_begin(self, logs=None):
        self._started = time.perf_counter()

    def on_test_end(self, logs=None):
        self.timings["validation"] = self.timings.get("validation", 0.0) + time.perf_counter() - self._started


def train_and_test(args, train, test, labeled, valid, n_classes, timings, batch_rng):
    """Train a fresh model on the labeled set for nEpoch epochs, each one pass over it in a new order drawn
    from ``batch_rng``; keep the weights of the best validation accuracy (strictly better replaces, in memory),
    restore them, and return (model, test accuracy). Seconds spent in 'training', 'validation' and 'test' are
    written into ``timings``; TrainingDiverged at the first epoch whose loss is not finite."""
    (X, y), (X_test, y_test) = train, test
    model = models.get_model(args.network, X.shape[1:], n_classes)
    X_labeled, y_labeled = X[labeled], y[labeled]
    timings.update(training=0.0, validation=0.0)
    validation = ValidationTimer(timings)
    best_accuracy, best_weights = -np.inf, None
    # One fit call per epoch with the epoch's own order, as Keras 2.3.1 shuffled arrays every epoch: Keras 3 on
    # TensorFlow draws the same order in every epoch once a seed is set.
    with timed(timings, "training"):
        for epoch in trange(args.nEpoch, desc="epochs", leave=False, disable=None):  # a bar on a terminal only
            order = batch_rng.permutation(len(labeled))
            history = model.fit(X_labeled[order], y_labeled[order], batch_size=args.nBatch, epochs=1, shuffle=False,
                                verbose=0, validation_data=(X[valid], y[valid]),
                                validation_batch_size=models.FEATURE_BATCH, callbacks=[validation]).history
            if not np.isfinite(history["loss"][0]):
                raise TrainingDiverged(f"training diverged (loss {history['loss'][0]} at epoch {epoch + 1} with "
                                       f"{len(labeled)} labeled samples): this step was not written; lower the "
                                       "learning rate or check the data")
            if history["val_accuracy"][0] > best_accuracy:
                best_accuracy, best_weights = history["val_accuracy"][0], model.get_weights()
        model.set_weights(best_weights)
    timings["training"] -= timings["validation"]  # fit's seconds include its validation passes
    with timed(timings, "test"):
        _, accuracy = model.evaluate(X_test, y_test, batch_size=models.FEATURE_BATCH, verbose=0)
    return model, float(accuracy)


def query(args, model, X, pool, sampling_set, labeled, seed, step, timings):
    """Return the positions into ``pool`` that the strategy picks: the model is asked once for the arrays
    the strategy needs, then the strategy works on arrays, with the step's own generator."""
    with timed(timings, "query"):  # the features' seconds, and the strategy's
        with timed(timings, "features"):
            arrays = models.pool_arrays(model, NEEDS[args.strategy], X, pool, sampling_set, labeled, n_mc=args.nMC)
        arrays.timings = timings
        picked = get_strategy(args.strategy)(arrays, args.nQuery, np.random.default_rng([seed, step]))
    return picked


def step_line(rep, step, args, n_labeled, accuracy, timings):
    """Return the one log line of a step: labeled count, test accuracy and where the seconds went."""
    parts = " ".join(f"{part} {seconds:.1f}s" for part, seconds in timings.items()
                     if part not in ("training", "validation", "test", "query"))
    return (f"rep {rep + 1}/{args.nRep} step {step}/{args.nStep} | labeled {n_labeled} | test acc {accuracy:.5f} "
            f"| train {timings['training']:.1f}s valid {timings['validation']:.1f}s test {timings['test']:.1f}s "
            f"| query {timings.get('query', 0.0):.1f}s" + (f" ({parts})" if parts else ""))


def step_record(args, rep, step, n_labeled, accuracy, timings):
    """Return the step log's record of one step (docs/results.md#the-step-log): repetition (1-based), step,
    labeled count, test accuracy, the seconds of each part in ``timings`` and what ran it."""
    return {"rep": rep + 1, "step": step, "labeled": n_labeled, "test_acc": accuracy,
            "seconds": {part: round(seconds, 3) for part, seconds in timings.items()},
            "dataset": args.dataset, "network": args.network, "strategy": args.strategy, "backend": backend.NAME}


ENVIRONMENT = {"backend": "KERAS_BACKEND", "threads": "LDMS_THREADS"}  # the run settings that are not flags


def run_settings(args):
    """Return the settings that shape a run's curves (those flags, the Keras backend and LDMS_THREADS, which
    changes how the framework splits its sums), as saved with its state and in the folder's settings file."""
    return {name: getattr(args, name) for name in RECORDED} | {"backend": backend.NAME, "threads": backend.threads()}


def step_seed(seed, step):
    """Return the Keras seed of one step: a resumed repetition trains exactly as an uninterrupted one."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


def resume_or_start(args, rep, train, n_classes, state_path):
    """Return (state, first_step) to go on with: the saved State of repetition ``rep`` if there is one (and not
    --fresh), else one at its initial split; its settings are this run's. ``first_step`` is the step to train
    next; it is the last completed one again when a finished run is extended to a larger --nStep, since the
    query after its last step was never made (that step's model is retrained, seeded as before)."""
    settings = run_settings(args)
    state = None if args.fresh else load_state(state_path)
    if state is None:
        protocol_rng = np.random.RandomState(args.seed + rep)  # replays the original's global-generator draws
        split = initial_split(train[1], args.nInit, args.nValid, args.nSample, n_classes, protocol_rng)
        return State(settings, [], *split, protocol_rng), 0
    differences = [f"{ENVIRONMENT.get(name, '--' + name)} {state.settings.get(name)} there, {value} here"
                   for name, value in settings.items() if state.settings.get(name) != value and name != "nStep"]
    if differences:
        raise UserError(f"{state_path} was made with other settings ({'; '.join(differences)}): run the same "
                        "command to resume it, use another --out, or --fresh to start over")
    done = len(state.accuracies) - 1  # the last completed step
    if args.nStep < done:
        raise UserError(f"--nStep {args.nStep} is smaller than the {done} steps {state_path} has done: use --nStep "
                        f"{done} or more to resume it, another --out, or --fresh to start over")
    queried_after_last = done < state.settings["nStep"]  # a run's last step makes no query
    first_step = done + 1 if queried_after_last or args.nStep == done else done
    state.settings = settings
    return state, first_step


def start_over(folder, rep):
    """Remove the saved state, results and step log of repetition ``rep`` (0-based), holding its lock, so that
    any later run starts it from its initial split; UserError naming the holder if another process is running it."""
    files = repetition_files(folder, rep)
    try:
        with hold_lock(files.lock):
            for path in (files.state, files.results, files.steps):
                path.unlink(missing_ok=True)
    except RepetitionHeld as held:
        raise UserError(f"cannot start repetition {rep + 1} over: {held}, a run that is writing it") from None


def run_repetition(args, rep, train, test, n_classes, folder, wait=False):
    """Run repetition ``rep`` (0-based) holding its lock (``checkpoint.hold_lock``: RepetitionHeld if another
    process holds it, or with ``wait`` after waiting for it); return what ``run_steps`` returns."""
    with hold_lock(repetition_files(folder, rep).lock, wait):
        return run_steps(args, rep, train, test, n_classes, folder)


def run_steps(args, rep, train, test, n_classes, folder):
    """Run repetition ``rep`` (0-based, seeded with seed + rep) from its last completed step; return
    (test accuracies, final labeled indices, validation indices). After every step a line is appended to the
    step log, then the state and the results file are rewritten atomically. The step log keeps one line per
    step the state has completed: a step trained again (a resumed or extended run) replaces its line."""
    seed, files = args.seed + rep, repetition_files(folder, rep)
    state, first_step = resume_or_start(args, rep, train, n_classes, files.state)
    keep_steps(files.steps, first_step)  # drops a torn line, and the lines of steps trained from here on
    if state.accuracies:
        write_accuracies(files.results, state.accuracies)  # in case a kill came between saving the state and this file
    if first_step > args.nStep:
        print(f"rep {rep + 1}/{args.nRep} already finished ({files.results}): skipped", flush=True)
        return state.accuracies, state.labeled, state.valid
    if first_step < len(state.accuracies):
        print(f"rep {rep + 1}/{args.nRep} goes on to --nStep {args.nStep}: step {first_step} is trained again for "
              "the query its run did not make", flush=True)
    elif state.accuracies:
        print(f"rep {rep + 1}/{args.nRep} resumes after step {len(state.accuracies) - 1} from {files.state}",
              flush=True)
    atomic_write(folder / SETTINGS, lambda file: file.write(json.dumps(state.settings, indent=1) + "\n"))
    for step in range(first_step, args.nStep + 1):
        timings, n_labeled = {}, len(state.labeled)
        keras.utils.set_random_seed(step_seed(seed, step))  # model initialisation and training order
        batch_rng = np.random.default_rng([seed, step, 1])  # the batch orders: a stream apart from the query's
        model, accuracy = train_and_test(args, train, test, state.labeled, state.valid, n_classes, timings, batch_rng)
        if step < len(state.accuracies):  # the retrained last step of an extended run: its accuracy is on file
            if f"{accuracy:.5f}" != f"{state.accuracies[step]:.5f}":
                print(f"warning: step {step} trained again gives {accuracy:.5f}, {state.accuracies[step]:.5f} on "
                      "file: this machine or backend computes differently; its query goes on from the new model",
                      file=sys.stderr, flush=True)
        else:
            state.accuracies.append(accuracy)
        if step < args.nStep:
            state.protocol_rng.shuffle(state.unlabeled)
            pool = state.unlabeled[: args.nPool]
            picked = query(args, model, train[0], pool, state.sampling_set, state.labeled, seed, step, timings)
            state.labeled = np.concatenate([state.labeled, pool[picked]])
            state.unlabeled = np.setdiff1d(state.unlabeled, state.labeled)
        # before the state: a kill in between leaves the line of a step the state lacks, which a resumed run drops
        append_step(files.steps, step_record(args, rep, step, n_labeled, state.accuracies[step], timings))
        save_state(files.state, state)
        write_accuracies(files.results, state.accuracies)  # after the state, which is what a resumed run trusts
        print(step_line(rep, step, args, n_labeled, accuracy, timings), flush=True)
        keras.backend.clear_session(free_memory=True)
    return state.accuracies, state.labeled, state.valid


def describe_run(args, n_train, n_test):
    """Return the lines printed at the start of a run: every setting that shapes the curves."""
    settings = " ".join(f"--{name.replace('_', '-')}={value}" for name, value in vars(args).items())  # as typed
    return [
        f"LDM-S {args.dataset}: {settings}",
        f"train {n_train} / test {n_test} images; repetition r seeds its split, pools, models and LDM with "
        f"seed + r = {args.seed}..{args.seed + args.nRep - 1}",
        f"LDM: {len(SIGMAS)} sigmas {SIGMAS[0]:g}..{SIGMAS[-1]:g}, stop after 10 draws without decrease; "
        f"array module {array_module().__name__}",
        f"python {platform.python_version()}, keras {keras.__version__}, numpy {np.__version__}; {backend.describe()}",
    ]


def prepare(args):
    """Check the settings, load the data and make the results folder; return (train, test, n_classes,
    folder). UserError for anything wrong, before anything is written."""
    check_counts(args)
    args.network = models.canonical_network(args.network)
    train, test, n_classes = load_dataset(args.dataset, args.data_dir)
    check_against_data(args, len(train[1]), n_classes)
    return train, test, n_classes, results_folder(args)


def run(args, reps=None, wait=False):
    """Run the repetitions ``reps`` (default: all of --nRep) of the experiment described by ``args``;
    results go under args.out. A repetition another process holds is left to it with one line saying so, or
    with ``wait`` waited for. Return {rep: test accuracies} of the repetitions this process ran or found finished."""
    backend.configure()
    train, test, n_classes, folder = prepare(args)
    print("\n".join(describe_run(args, len(train[1]), len(test[1]))), flush=True)
    accuracies = {}
    for rep in range(args.nRep) if reps is None else reps:
        try:
            accuracies[rep] = run_repetition(args, rep, train, test, n_classes, folder, wait)[0]
        except RepetitionHeld as held:
            print(f"rep {rep + 1}/{args.nRep} skipped: {held}, another run that is writing it", flush=True)
    print(f"results in {folder}", flush=True)
    return accuracies


def main(dataset, argv=None):
    """Parse the flags of the run script for ``dataset`` and run; return the exit code (2 for user mistakes,
    1 for a diverged training or a results file that could not be written)."""
    args = build_parser(dataset).parse_args(argv)
    try:
        run(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except StorageError as error:
        print(f"error: {error}: the completed steps are on disk; free space or make the folder writable, then "
              "run the same command to resume", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: results of completed steps are on disk", file=sys.stderr)
        return 130
    return 0
