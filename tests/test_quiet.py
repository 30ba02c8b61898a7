"""The frameworks' known notices are dropped from a run's stderr; anything else, progress bars included, passes;
Python's own stderr bypasses the filter, and LDMS_FRAMEWORK_LOGS=1 turns it off."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795961374.984527   26484 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders.",
    "I0000 00:00:1795961374.984952   26484 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    "not be used.",
    "E0000 00:00:1795961383.122064   26484 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed "
    "call to cuInit: UNKNOWN ERROR (303)",
    "E0000 00:00:1795961404.682169   26484 node_def_util.cc:682] NodeDef mentions attribute use_unbounded_threadpool "
    "which is not in the op definition: Op<name=MapDataset; signature=input_dataset:variant>",
    "I0000 00:00:1795960416.557193    4075 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
    "appropriate compiler flags.",
]
REAL = [
    "E0000 00:00:1795961404.682169   26484 node_def_util.cc:682] NodeDef mentions attribute other_attribute",
    "E0000 00:00:1795961383.122064   26484 cuda_platform.cc:52] an error nobody has seen before",
    "W0000 00:00:1795961383.122064   26484 gpu_device.cc:12] out of memory trying to allocate 2.0GiB",
    "error: --nPool must be at least 1, got 0",
]


NOISY_PROGRAM = ("import os, sys, time, quiet\nquiet.filter_stderr()\n"
                 f"os.write(2, {''.join(line + chr(10) for line in [*NOISE, *REAL]).encode()!r})\n"
                 "os.write(2, b'\\rbar 1/2')\ntime.sleep(0.3)\nos.write(2, b'\\rbar 2/2\\n')\n"
                 "print('python warning', file=sys.stderr, flush=True)\ntime.sleep(0.3)\n"
                 "print(sys.stderr.fileno() != 2)\n")


def test_only_the_known_notices_are_dropped_and_a_progress_bar_passes_at_once():
    result = subprocess.run([sys.executable, "-c", NOISY_PROGRAM], cwd=ROOT, capture_output=True, timeout=60)
    assert result.returncode == 0  # bytes, not text: a text pipe would turn each carriage return into a newline
    # file descriptor 2 went through the filter, in order; Python's sys.stderr went straight to the original, so
    # its line may come before the filter has passed the last ones on
    stderr = result.stderr.decode()
    assert stderr.count("python warning\n") == 1
    assert stderr.replace("python warning\n", "") == "\n".join(REAL) + "\n\rbar 1/2\rbar 2/2\n"
    assert result.stdout == b"True\n"


def test_the_filter_is_off_with_ldms_framework_logs():
    env = dict(os.environ, LDMS_FRAMEWORK_LOGS="1")
    result = subprocess.run([sys.executable, "-c", NOISY_PROGRAM], cwd=ROOT, capture_output=True, timeout=60, env=env)
    assert result.returncode == 0 and result.stdout == b"False\n"
    assert result.stderr.decode() == "".join(line + "\n" for line in [*NOISE, *REAL]) + "\rbar 1/2\rbar 2/2\npython warning\n"


def test_a_crash_after_the_filter_still_shows_its_last_words():
    program = "import os, quiet\nquiet.filter_stderr()\nos.write(2, b'fatal: the last words\\n')\nos.abort()\n"
    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and result.stderr == "fatal: the last words\n"


def test_tensorflow_drops_only_its_retracing_warning():
    import logging

    import backend

    if backend.NAME != "tensorflow":
        pytest.skip("the retracing warning is TensorFlow's")
    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger = backend.framework().get_logger()
    logger.addHandler(handler)
    try:
        logger.warning("5 out of the last 9 calls to <function one_step_on_data> triggered tf.function retracing.")
        logger.warning("a real warning")
    finally:
        logger.removeHandler(handler)
    assert seen == ["a real warning"]
