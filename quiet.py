"""Keeps the frameworks' known, non-actionable notices off the terminal, so a run prints the project's lines.

TensorFlow 2.21 writes its C++ notices through absl before absl is initialised, so TF_CPP_MIN_LOG_LEVEL no
longer silences them: the absl banner, oneDNN and CPU-instruction notes, CUDA-stub and cuInit messages on a
machine without a GPU, and at every training step a tf.data 'use_unbounded_threadpool' op-definition error.
``filter_stderr`` routes file descriptor 2, where C++ code writes, through a small child process that drops
exactly those lines and passes everything else on at once. Python's own ``sys.stderr`` (the project's lines,
warnings, tracebacks, progress bars) keeps writing to the original stderr, so a terminal stays a terminal to
tqdm and its bars show. The child outlives a crash of the run, so a framework's real error still shows.
LDMS_FRAMEWORK_LOGS=1 turns the filter off: everything the frameworks print is shown.
"""
import atexit
import os
import re
import signal
import subprocess
import sys

NOISE = re.compile("|".join([
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"[IWE]\d{4} [\d:. ]+\d+ (port|cudart_stub|cpu_feature_guard|cuda_platform|cuda_executor|cuda_dnn|cuda_fft|"
    r"cuda_blas|dso_loader|gpu_device)\.cc:\d+\] (oneDNN custom operations are on|Could not find cuda drivers|"
    r"This TensorFlow binary is optimized|failed call to cuInit|Unable to register cu|Could not load dynamic "
    r"library|Cannot dlopen some GPU libraries)",
    r"[IWE]\d{4} [\d:. ]+\d+ node_def_util\.cc:\d+\] NodeDef mentions attribute use_unbounded_threadpool",
    r"To enable the following instructions: .* in other operations, rebuild TensorFlow with the appropriate "
    r"compiler flags\.",
]))


def is_noise(line):
    """Return True for a line (without its newline) that is one of the known framework notices."""
    return NOISE.match(line) is not None


def filter_stderr():
    """Route file descriptor 2 (the frameworks' C++ logging) through the noise filter, a child process, and point
    ``sys.stderr`` at the original stderr; return the child, or None where the filter is off (LDMS_FRAMEWORK_LOGS=1)
    or stderr cannot be redirected (not a file descriptor, as under some test runners)."""
    if os.environ.get("LDMS_FRAMEWORK_LOGS") == "1":
        return None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # fewer C++ logs from TensorFlow, which reads it at import
    try:
        sys.stderr.flush()
        original = os.dup(2)
    except (OSError, ValueError, AttributeError):
        return None
    child = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=original, close_fds=True)
    os.dup2(child.stdin.fileno(), 2)
    child.stdin.close()  # fd 2 is now the only writer: the child ends when this process has ended
    sys.stderr = open(original, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")
    atexit.register(_drain, child)
    return child


def _drain(child):
    """At exit, let the child pass on the last lines before the shell prompt comes back."""
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # closes this process's end of the pipe: the child reads to its end and stops
    os.close(devnull)
    try:
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass  # a process this one started still holds the pipe; the child goes on forwarding its lines


def forward(source=0, target=1):
    """Copy ``source`` to ``target`` until end of file, dropping noise lines. A partial line that starts with a
    carriage return (a progress bar redrawing itself) is passed on at once."""
    pending, out = b"", open(target, "wb", closefd=False)
    while chunk := os.read(source, 65536):
        *lines, pending = (pending + chunk).split(b"\n")
        kept = [line + b"\n" for line in lines if not is_noise(line.decode(errors="replace"))]
        if pending.startswith(b"\r"):
            kept.append(pending)
            pending = b""
        out.write(b"".join(kept))
        out.flush()
    if pending and not is_noise(pending.decode(errors="replace")):
        out.write(pending)
    out.close()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C stops the run, whose last words must still pass
    forward()
