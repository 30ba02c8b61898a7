"""The Ray sweep on a local instance, and on Ray's test cluster of several nodes on this machine; tiny settings."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, TINY, assert_one_error_line, run_script, script_command
from errors import UserError
from test_status import HOLD

pytestmark = pytest.mark.slow  # every test here starts the sweep script, most of them Ray

GRID_FLAGS = ["--nEpoch", "1", "--nStep", "1", "--nValid", "100", "--nPool", "200", "--nSample", "200",
              "--nQuery", "10"]


def run_sweep(*args, timeout=600):
    return run_script("sweep.py", *args, timeout=timeout)


def descendants(root):
    """Return the pids of every process below ``root``: this sweep's Ray workers, not another sweep's."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, stack = [], [root]
    while stack:
        below = children.get(stack.pop(), [])
        found += below
        stack += below
    return found


def test_a_grid_writes_what_the_run_script_writes(tmp_path, data_dir):
    result = run_sweep("--dataset", "mnist", "--strategy", "entropy", "--nRep", "2", *GRID_FLAGS,
                       "--data-dir", data_dir, "--out", tmp_path / "sweep")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "figures and tables in" in result.stdout and "| entropy" in result.stdout  # the summary table
    assert not list((tmp_path / "sweep").glob(".sweep-*"))  # the storage marker is gone with the sweep
    assert json.loads((tmp_path / "sweep" / "mnist_SCNN_entropy" / "settings.json").read_text())["threads"] == 1
    script = run_script("run_mnist.py", *GRID_FLAGS, "--nRep", "2", "--strategy", "entropy", "--data-dir", data_dir,
                        "--out", tmp_path / "script", env=dict(os.environ, LDMS_THREADS="1"))  # the sweep's default
    assert script.returncode == 0, script.stderr[-3000:]
    for rep in ("001", "002"):  # each repetition a job of its own, seeded as the script seeds it
        name = f"mnist_SCNN_entropy/test_accs_{rep}.txt"
        swept = (tmp_path / "sweep" / name).read_text()
        assert len(swept.splitlines()) == 2
        assert swept == (tmp_path / "script" / name).read_text()


def running_on(node, folder, total):
    """Return {repetition number: steps written} of the unfinished repetitions of ``folder`` whose lock names a
    live worker process of the Ray ``node``."""
    workers = descendants(node.all_processes["raylet"][0].process.pid)
    running = {}
    for lock in folder.glob("state_*.lock"):
        number = int(lock.stem.split("_")[1])
        results = folder / f"test_accs_{number:03d}.txt"
        steps = len(results.read_text().splitlines()) if results.exists() else 0
        holder = lock.read_text().split()  # host H pid P
        if len(holder) == 4 and int(holder[3]) in workers and steps < total:
            running[number] = steps
    return running


def wait_for(condition, process):
    """Poll ``condition`` until it returns something true, and return that, or None once ``process`` ended."""
    while process.poll() is None:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    return None


def test_a_lost_node_is_retried_elsewhere_and_a_new_node_takes_work(tmp_path, data_dir):
    from ray._common.utils import reset_ray_address
    from ray.cluster_utils import Cluster

    flags = [*GRID_FLAGS, "--nStep", "2", "--nRep", "2", "--strategy", "random", "--data-dir", str(data_dir)]
    folder, total = tmp_path / "sweep" / "mnist_SCNN_random", 3
    started = time.time()
    script = subprocess.Popen(script_command("run_mnist.py", *flags, "--out", tmp_path / "script"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, LDMS_XP="numpy"))  # the reference, meanwhile
    process = cluster = None
    try:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # repetitions run on workers only
        reset_ray_address()  # so that a ray.init() without address elsewhere on this machine starts its own instance
        first, second = cluster.add_node(num_cpus=1), cluster.add_node(num_cpus=1)
        process = subprocess.Popen(script_command("sweep.py", "--address", cluster.address, *flags, "--fresh",
                                                  "--out", tmp_path / "sweep"), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=dict(os.environ, LDMS_XP="numpy"))
        def mid(node):  # in the middle of a repetition: 1 or more of its steps written, not all
            return any(steps >= 1 for steps in running_on(node, folder, total).values())

        both_busy = wait_for(lambda: running_on(first, folder, total) and running_on(second, folder, total), process)
        joined = cluster.add_node(num_cpus=1)  # idle: both repetitions are taken
        both_mid = wait_for(lambda: mid(first) and mid(second), process)
        assert both_busy and both_mid, ("the grid ended before both nodes were in the middle of a repetition: "
                                        + process.communicate()[1][-3000:])
        [lost] = running_on(first, folder, total)
        cluster.remove_node(first, allow_graceful=False)  # as a machine that goes off: no goodbye to the head
        lost_at = time.time()
        took = wait_for(lambda: running_on(joined, folder, total), process) or {}
        taken_at = time.time()
        stderr = process.communicate(timeout=600)[1]
        worker_logs = "".join(log.read_text() for log in
                              Path(cluster.head_node.get_session_dir_path()).glob("logs/worker-*.out"))
        print(f"both nodes mid-repetition at {lost_at - started:.0f} s; the new node resumed rep {list(took)} of "
              f"the lost node {taken_at - lost_at:.0f} s after the loss; grid done at {time.time() - started:.0f} s")
        script_stderr = script.communicate(timeout=600)[1]
    finally:
        for child in (process, script):
            if child and child.poll() is None:
                child.kill()
                child.wait()
        if cluster:
            cluster.shutdown()
    assert process.returncode == 0, stderr[-3000:]
    assert list(took) == [lost], "the node that joined did not take up the repetition of the lost node"
    assert f"rep {lost}/2 resumes after step" in worker_logs  # from its saved state, not from the start: even
    # with --fresh, which the sweep applies once before the jobs start, not again in Ray's retry
    assert script.returncode == 0, script_stderr[-3000:]
    for rep in ("001", "002"):
        swept = (folder / f"test_accs_{rep}.txt").read_text()
        assert len(swept.splitlines()) == total
        assert swept == (tmp_path / "script" / "mnist_SCNN_random" / f"test_accs_{rep}.txt").read_text()


@pytest.mark.parametrize("flags, message", [
    (["--strategy", "ldms", "uncertainty"], "unknown strategy 'uncertainty'"),
    (["--dataset", "mnist", "svhn"], "--dataset must be among mnist, cifar10"),
    (["--nQuery", "0"], "--nQuery must be at least 1"),
])
def test_a_bad_grid_exits_2_and_starts_nothing(tmp_path, data_dir, flags, message, capsys):
    import sweep  # in this process: the grid is checked before Ray starts

    argv = [*TINY, "--data-dir", str(data_dir), "--out", str(tmp_path / "out"), *flags]
    assert sweep.main(argv) == 2
    assert_one_error_line(capsys.readouterr().err, message)
    assert not (tmp_path / "out").exists()


def test_an_unwritable_out_is_a_clear_error(tmp_path, data_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_sweep(*TINY, "--data-dir", data_dir, "--out", blocker / "out", timeout=120)
    assert result.returncode == 2 and "--out: cannot write results into" in result.stderr


def test_fresh_removes_the_grid_s_saved_runs_once_and_refuses_a_running_one(tmp_path, data_dir):
    import sweep  # in this process: no Ray, no training

    options, [args] = sweep.build_grid([*TINY, "--nRep", "3", "--fresh", "--data-dir", str(data_dir),
                                        "--out", str(tmp_path / "out")])
    [folder] = sweep.check_grid([args])
    for number in (1, 2):  # two repetitions with saved steps; the third never started
        (folder / f"state_{number:03d}.npz").write_bytes(b"a state")
        (folder / f"test_accs_{number:03d}.txt").write_text("0.5\n")
        (folder / f"steps_{number:03d}.jsonl").write_text('{"step": 0}\n')
    (folder / "settings.json").write_text("{}")
    sweep.start_over_if_fresh([args], [folder])
    assert sorted(path.name for path in folder.iterdir()) == [  # locks are left: they hold nothing
        "settings.json", "state_001.lock", "state_002.lock", "state_003.lock"]
    assert args.fresh is False  # what the jobs and Ray's retries of them get: resume

    (folder / "state_002.npz").write_bytes(b"a state")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(ROOT), str(folder / "state_002.lock")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        args.fresh = True
        with pytest.raises(UserError, match=r"cannot start repetition 2 over: .*state_002.lock is held by host "
                                            rf"\S+ pid {holder.pid}, a run that is writing it"):
            sweep.start_over_if_fresh([args], [folder])
        assert (folder / "state_002.npz").read_bytes() == b"a state"
    finally:
        holder.stdin.close()
        holder.wait()


def test_a_job_on_a_node_that_does_not_see_the_sweep_s_out_stops_before_running(tmp_path, data_dir):
    import sweep  # in this process: the job's own function, as a node that joined late would run it

    options, [args] = sweep.build_grid([*TINY, "--data-dir", str(data_dir), "--out", str(tmp_path / "out")])
    sweep.check_grid([args])
    marker = sweep.mark_storage(args.out)
    assert sweep.probe_storage(args.out, marker) is None
    elsewhere = tmp_path / "another-disk"  # the same path on a node with storage of its own: no marker there
    missing = f"the file {marker} the sweep wrote there is missing"
    node = socket.gethostname()
    assert sweep.probe_storage(str(elsewhere), marker) == f"node {node} sees another --out {elsewhere}: {missing}"
    args.out = str(elsewhere)
    with pytest.raises(UserError, match="sees another --out .*: --out must be storage that every node sees"):
        sweep.run_job(args, 0, marker)
    assert [path.name for path in elsewhere.iterdir()] == []  # nothing ran there
