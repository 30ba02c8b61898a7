"""The Keras backend, picked and configured before Keras loads: import this module before keras.

KERAS_BACKEND picks it: tensorflow (the default), jax or torch. Whichever it is, it gets deterministic
ops (same seed, same machine: same results), full float32 arithmetic as the original ran (no TF32 on
Ampere and newer cards) and a GPU shared with CuPy (no backend takes all its memory up front). Only
the chosen framework is imported.
"""
import importlib.util
import os
import sys

BACKENDS = ("tensorflow", "jax", "torch")
NAME = os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def installed_backends():
    """Return the names among BACKENDS whose framework can be imported here."""
    return [name for name in BACKENDS if importlib.util.find_spec(name) is not None]


def _exit_unless_usable(name):
    """A wrong KERAS_BACKEND is a user mistake: one line on stderr and exit code 2, before Keras fails."""
    if name not in BACKENDS:
        problem = f"KERAS_BACKEND must be one of {', '.join(BACKENDS)}, got {name!r}"
    elif name not in installed_backends():
        problem = f"KERAS_BACKEND={name}, but {name} is not installed (pip install -r requirements-{name}.txt)"
    else:
        return
    print(f"error: {problem}", file=sys.stderr)
    sys.exit(2)


def _configure_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # fewer C++ logs (quiet.py drops the rest)
    import tensorflow as tf

    # Every step builds a new model, whose feature pass traces once more for its last, smaller batch: a
    # trace of well under a second per query, not worth a warning at every CIFAR-10 step.
    tf.get_logger().addFilter(lambda record: "triggered tf.function retracing" not in record.getMessage())

    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)  # leave GPU memory for CuPy, or share a card
    tf.config.experimental.enable_op_determinism()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    return tf


def _configure_jax():
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # not 75% of the GPU at the first op
    flags = os.environ.get("XLA_FLAGS", "")
    if "--xla_gpu_deterministic_ops" not in flags:  # deterministic GPU kernels, no autotuning
        os.environ["XLA_FLAGS"] = f"{flags} --xla_gpu_deterministic_ops=true".strip()
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")  # float32 matmuls and convolutions
    return jax


def _configure_torch():
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what deterministic cuBLAS needs
    import torch

    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False  # no timing-dependent choice of convolution kernels
    torch.backends.fp32_precision = "ieee"  # PyTorch 2.9's switch for TF32 (was allow_tf32)
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    torch.backends.cudnn.conv.fp32_precision = "ieee"
    return torch


_exit_unless_usable(NAME)
FRAMEWORK = {"tensorflow": _configure_tensorflow, "jax": _configure_jax, "torch": _configure_torch}[NAME]()


def devices():
    """Return the names of the devices the backend sees, e.g. ['/device:CPU:0'] or ['cuda:0 (NVIDIA H100 ...)']."""
    if NAME == "tensorflow":
        return [device.name for device in FRAMEWORK.config.list_logical_devices()]
    if NAME == "jax":
        return [f"{device} ({device.device_kind})" for device in FRAMEWORK.devices()]
    cuda = FRAMEWORK.cuda
    return ["cpu"] + [f"cuda:{index} ({cuda.get_device_name(index)})" for index in range(cuda.device_count())]


def describe():
    """Return the backend, its version and the devices it sees, in one line."""
    return f"backend {NAME} {FRAMEWORK.__version__} (deterministic, float32 without TF32), devices {', '.join(devices())}"
