"""Mutation check of the tests: each mutant is one exact text replacement in a copy of the project, a wrong
experiment that the tests named with it must notice. Prints one line per mutant: the first test that failed on
it, or SURVIVED.

    python bench/mutants.py                                  # every mutant, each against its own test files
    python bench/mutants.py pool_positions_labeled --tests tests/test_protocol.py
    python bench/mutants.py --baseline                       # first check that the unchanged copy passes

The copy holds the files git knows of (tracked, and untracked ones not ignored) as they are in the work tree;
the tests run there with ``pytest -x -q`` under this Python, with the environment (LDMS_DATA_DIR) passed through.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import namedtuple
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_LOOP_TESTS = ("tests/test_protocol.py", "tests/test_run.py", "tests/test_resume.py")
TRAINING_TESTS, ROLE_TESTS = ("tests/test_training.py",), ("tests/test_roles.py",)
NETWORK_TESTS, FIGURE_TESTS = ("tests/test_networks.py",), ("tests/test_figures.py",)

Mutant = namedtuple("Mutant", "name file old new tests")
ADAM_CALL_END, RMSPROP_CALL = "beta_2=0.999, epsilon=1e-7)", "LegacyRMSprop(learning_rate=1e-4, rho=0.9, epsilon=1e-7)"


def added_option(name, call, option):
    """Return a mutant that passes ``option`` too in the optimizers.py call whose text (to its ')') is ``call``."""
    return Mutant(name, "optimizers.py", call, f"{call[:-1]}, {option})", NETWORK_TESTS)


MUTANTS = (
    # The run loop, its resume and its checkpoint.
    Mutant("resume_with_a_fresh_generator", "experiment.py", "    state.settings = settings\n",
           "    state.settings, state.protocol_rng = settings, np.random.RandomState(args.seed + rep)\n",
           RUN_LOOP_TESTS),
    Mutant("pool_positions_labeled", "experiment.py", "[state.labeled, pool[picked]]", "[state.labeled, picked]",
           RUN_LOOP_TESTS),
    Mutant("last_epoch_weights", "experiment.py", "    model.set_weights(best_weights)\n", "", RUN_LOOP_TESTS),
    Mutant("stops_at_the_first_epoch_without_progress", "experiment.py",
           'best_accuracy, best_weights = history["val_accuracy"][0], model.get_weights()\n',
           'best_accuracy, best_weights = history["val_accuracy"][0], model.get_weights()\n        else:\n'
           '            break\n', RUN_LOOP_TESTS),
    Mutant("step_seed_ignores_the_step", "experiment.py", "SeedSequence([seed, step])", "SeedSequence([seed])",
           RUN_LOOP_TESTS),
    Mutant("no_seed_per_step", "experiment.py", "keras.utils.set_random_seed(step_seed(seed, step))",
           "step_seed(seed, step)", RUN_LOOP_TESTS),
    Mutant("query_generator_ignores_the_step", "experiment.py", "default_rng([seed, step])", "default_rng(seed)",
           RUN_LOOP_TESTS),
    Mutant("pool_not_reshuffled", "experiment.py", "state.protocol_rng.shuffle(state.unlabeled)", "pass",
           RUN_LOOP_TESTS),
    Mutant("unlabeled_loses_the_whole_pool", "experiment.py", "np.setdiff1d(state.unlabeled, state.labeled)",
           "np.setdiff1d(state.unlabeled, pool)", RUN_LOOP_TESTS),
    Mutant("sampling_set_redrawn_on_resume", "experiment.py", "    state.settings = settings\n",
           "    state.settings, state.sampling_set = settings, "
           "np.random.RandomState(args.seed + rep).permutation(len(train[1]))[: args.nSample]\n", RUN_LOOP_TESTS),
    Mutant("results_written_before_the_state", "experiment.py", "        save_state(files.state",
           "        write_accuracies(files.results, state.accuracies)\n        save_state(files.state",
           RUN_LOOP_TESTS),
    Mutant("results_not_rewritten_on_resume", "experiment.py",
           "write_accuracies(files.results, state.accuracies)  # in case", "None  # in case", RUN_LOOP_TESTS),
    Mutant("finished_results_rewritten", "experiment.py", "if path.exists() and path.read_text() == text:", "if False:",
           RUN_LOOP_TESTS),
    Mutant("divergence_not_checked", "experiment.py", 'if not np.isfinite(history["loss"][0]):', "if False:",
           RUN_LOOP_TESTS),
    Mutant("generator_position_not_saved", "checkpoint.py", '"rng_pos": rng_state["state"]["pos"]', '"rng_pos": 624',
           RUN_LOOP_TESTS),
    # Runs that share a folder and runs that go further.
    Mutant("extension_skips_the_last_query", "experiment.py", "first_step = done + 1 if queried_after_last",
           "first_step = done + 1 if True", ("tests/test_sharing.py",)),
    Mutant("nstep_change_refused", "experiment.py", 'state.settings.get(name) != value and name != "nStep"',
           "state.settings.get(name) != value", ("tests/test_sharing.py",)),
    Mutant("step_log_not_trimmed_on_resume", "experiment.py", "    keep_steps(files.steps, first_step)  #",
           "    None  #", ("tests/test_protocol.py",)),
    Mutant("step_log_keeps_the_retrained_step", "experiment.py", "keep_steps(files.steps, first_step)",
           "keep_steps(files.steps, len(state.accuracies))", ("tests/test_sharing.py",)),
    Mutant("threads_not_a_run_setting", "experiment.py", '{"backend": backend.NAME, "threads": backend.threads()}',
           '{"backend": backend.NAME}', ("tests/test_run.py",)),
    Mutant("python_stderr_through_the_filter", "quiet.py", "    sys.stderr = open(original,",
           "    None and open(original,", ("tests/test_quiet.py",)),
    # The Ray sweep.
    Mutant("sweep_retries_start_over_with_fresh", "sweep.py", "            args.fresh = False", "            pass",
           ("tests/test_sweep.py",)),
    Mutant("jobs_do_not_check_their_node_s_storage", "sweep.py",
           "    if problem:\n        raise UserError(f\"{problem}: --out",
           "    if False:\n        raise UserError(f\"{problem}: --out", ("tests/test_sweep.py",)),
    # The strategies, the defaults and the LDM estimator.
    Mutant("coreset_later_picks_leave_distances", "strategies.py", "nearest = np.minimum(nearest, squared_pool",
           "nearest = nearest if len(picked) > 1 else np.minimum(nearest, squared_pool", ("tests/test_strategies.py",)),
    Mutant("badge_distances_to_the_first_centre_only", "strategies.py", "squared_distances(picked[-1])",
           "squared_distances(picked[0])", ("tests/test_strategies.py",)),
    Mutant("mnist_nEpoch_40", "flags.py", 'name="nEpoch", mnist=50,', 'name="nEpoch", mnist=40,',
           ("tests/test_flags.py",)),
    Mutant("cifar10_nPool_2000", "flags.py", 'name="nPool", mnist=2000, cifar10=4000,',
           'name="nPool", mnist=2000, cifar10=2000,', ("tests/test_flags.py",)),
    Mutant("logit_ties_always_flip", "ldm.py", "flipped_block[tied_rows, tied_draws] = first < predicted[tied_rows]",
           "flipped_block[tied_rows, tied_draws] = True", ("tests/test_ldm.py",)),
    # How a step trains: epochs, batches, their order, the epoch kept, the set each pass sees.
    Mutant("batches_in_the_same_order_every_epoch", "experiment.py", "order = batch_rng.permutation(",
           "order = np.random.default_rng(0).permutation(", TRAINING_TESTS),
    Mutant("batches_never_shuffled", "experiment.py", "order = batch_rng.permutation(len(labeled))",
           "order = np.arange(len(labeled))", TRAINING_TESTS),
    Mutant("batch_size_from_nQuery", "experiment.py", "batch_size=args.nBatch,", "batch_size=args.nQuery,",
           TRAINING_TESTS),
    Mutant("one_epoch_less", "experiment.py", "trange(args.nEpoch,", "trange(args.nEpoch - 1,", TRAINING_TESTS),
    Mutant("best_epoch_by_training_accuracy", "experiment.py", 'if history["val_accuracy"][0] > best_accuracy:',
           'if history["accuracy"][0] > best_accuracy:', TRAINING_TESTS),
    Mutant("best_epoch_by_validation_loss", "experiment.py", 'if history["val_accuracy"][0] > best_accuracy:',
           'if -history["val_loss"][0] > best_accuracy:', TRAINING_TESTS),
    Mutant("validated_on_the_labeled_set", "experiment.py", "validation_data=(X[valid], y[valid])",
           "validation_data=(X[labeled], y[labeled])", ROLE_TESTS + TRAINING_TESTS),
    Mutant("tested_on_the_validation_set", "experiment.py", "model.evaluate(X_test, y_test,",
           "model.evaluate(X[valid], y[valid],", ROLE_TESTS + TRAINING_TESTS),
    Mutant("trained_on_the_validation_set", "experiment.py", "X_labeled, y_labeled = X[labeled], y[labeled]",
           "X_labeled, y_labeled = X[valid], y[valid]", ROLE_TESTS),
    # Which set reaches the strategy and LDM.
    Mutant("sampling_set_features_from_the_pool", "models.py", '(sample, "features_sample")',
           '(pool, "features_sample")', ROLE_TESTS),
    Mutant("labeled_features_from_the_sampling_set", "models.py", '(labeled, "features_labeled")',
           '(sample, "features_labeled")', ROLE_TESTS),
    Mutant("pool_arrays_from_the_last_input", "models.py", "= features[0], probabilities[0]",
           "= features[-1], probabilities[-1]", ROLE_TESTS),
    Mutant("rho_measured_on_the_pool", "ldm.py", "estimate_ldm(features_pool, features_sample, kernel, bias, rng=",
           "estimate_ldm(features_pool, features_pool, kernel, bias, rng=", ROLE_TESTS),
    # The networks' weightless settings and the optimizers' options.
    Mutant("kcnn_second_dropout_0_5", "models.py",
           "layers.MaxPooling2D(2),\n            layers.Dropout(0.25),\n            *_dense_head(512",
           "layers.MaxPooling2D(2),\n            layers.Dropout(0.5),\n            *_dense_head(512", NETWORK_TESTS),
    Mutant("scnn_first_conv_without_relu", "models.py", 'layers.Conv2D(32, 3, activation="relu", kernel_initializer',
           "layers.Conv2D(32, 3, kernel_initializer", NETWORK_TESTS),
    Mutant("kcnn_last_conv_without_relu", "models.py",
           'layers.Conv2D(64, 3, padding="same", activation="relu", kernel_initializer="he_normal"),\n'
           "            layers.MaxPooling2D(2)",
           'layers.Conv2D(64, 3, padding="same", kernel_initializer="he_normal"),\n            layers.MaxPooling2D(2)',
           NETWORK_TESTS),
    added_option("adam_amsgrad", ADAM_CALL_END, "amsgrad=True"),
    added_option("adam_clipnorm", ADAM_CALL_END, "clipnorm=1.0"),
    Mutant("adam_epsilon_1e-8", "optimizers.py", ADAM_CALL_END, "beta_2=0.999, epsilon=1e-8)", NETWORK_TESTS),
    Mutant("adamw_instead_of_adam", "optimizers.py", "keras.optimizers.Adam(learning_rate",
           "keras.optimizers.AdamW(learning_rate", NETWORK_TESTS),
    added_option("rmsprop_clipvalue", RMSPROP_CALL, "clipvalue=1.0"),
    added_option("rmsprop_global_clipnorm", RMSPROP_CALL, "global_clipnorm=1.0"),
    # What the figures show.
    Mutant("difference_to_random_reversed", "plot_results.py", 'mean - stacks["random"][1].mean(axis=0)',
           'stacks["random"][1].mean(axis=0) - mean', FIGURE_TESTS),
    Mutant("penalty_cells_from_the_losing_side", "plot_results.py", "matrix, group = stats.penalty_matrix(outcomes)",
           "matrix, group = stats.penalty_matrix(-outcomes)", FIGURE_TESTS),
    Mutant("penalty_numbers_in_swapped_cells", "plot_results.py", "axis.text(j, i,", "axis.text(i, j,", FIGURE_TESTS),
    Mutant("band_of_the_population_std", "plot_results.py", "accs.mean(axis=0), stats.std_over_reps(accs)",
           "accs.mean(axis=0), accs.std(axis=0)", FIGURE_TESTS),
    Mutant("curves_against_steps", "plot_results.py", "x, mean, std = labeled_counts(run, accs.shape[1]),",
           "x, mean, std = np.arange(accs.shape[1]),", FIGURE_TESTS),
    Mutant("penalty_colours_scaled_to_the_largest_cell", "plot_results.py", "vmin=0, vmax=1)",
           "vmin=0, vmax=matrix.max())", FIGURE_TESTS),
)


def copy_project(destination):
    """Copy the files git knows of (tracked, and untracked ones it does not ignore) from the work tree."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is left out
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name, follow_symlinks=False)


def mutated(mutant, folder):
    """Return the text of the mutant's file in ``folder`` with its old text replaced; ValueError unless the old
    text is there exactly once."""
    text = (folder / mutant.file).read_text()
    if text.count(mutant.old) != 1:
        raise ValueError(f"{mutant.name}: {mutant.old!r} is in {mutant.file} {text.count(mutant.old)} times, "
                         "expected once")
    return text.replace(mutant.old, mutant.new)


def first_failure(folder, tests, timeout):
    """Run ``tests`` with pytest in ``folder``; return (None if they passed, else the first failed test, seconds)."""
    started = time.time()
    try:
        result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                                cwd=folder, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"a time-out after {timeout}s", timeout
    seconds = time.time() - started
    if result.returncode == 0:
        return None, seconds
    failed = [line.split(" - ")[0].split(" ", 1) for line in result.stdout.splitlines()
              if line.startswith(("FAILED ", "ERROR "))]
    if result.returncode not in (1, 2) or not failed:  # no test failed: a usage error, no tests found
        sys.exit(f"pytest {' '.join(tests)} exited with {result.returncode}:\n{result.stdout[-2000:]}"
                 f"{result.stderr[-2000:]}")
    kind, test = failed[0]
    return test if kind == "FAILED" else f"{test} (error)", seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--tests", nargs="+", help="run these test files for every mutant instead of its own")
    parser.add_argument("--baseline", action="store_true", help="first check that the unchanged copy passes")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds a mutant's tests may take")
    args = parser.parse_args()
    unknown = set(args.names) - {mutant.name for mutant in MUTANTS}
    if unknown:
        parser.error(f"unknown mutants {', '.join(sorted(unknown))}; known: {', '.join(m.name for m in MUTANTS)}")
    chosen = [mutant for mutant in MUTANTS if not args.names or mutant.name in args.names]
    with tempfile.TemporaryDirectory(prefix="mutants-") as scratch:
        pristine = Path(scratch) / "pristine"
        copy_project(pristine)
        for mutant in chosen:  # every old text must be found before anything runs
            mutated(mutant, pristine)
        if args.baseline:
            tests = args.tests or sorted({test for mutant in chosen for test in mutant.tests})
            failure, seconds = first_failure(pristine, tests, args.timeout)
            outcome = f"FAILS: {failure}" if failure else "passes"
            print(f"{'unchanged':45s} {outcome} ({seconds:.0f}s)", flush=True)
            if failure:
                sys.exit(1)
        for mutant in chosen:
            folder = Path(scratch) / mutant.name
            shutil.copytree(pristine, folder)
            (folder / mutant.file).write_text(mutated(mutant, folder))
            failure, seconds = first_failure(folder, args.tests or mutant.tests, args.timeout)
            outcome = f"caught by {failure}" if failure else "SURVIVED"
            print(f"{mutant.name:45s} {outcome} ({seconds:.0f}s)", flush=True)
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
