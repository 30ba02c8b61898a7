"""The Keras backend of a run, and the settings a run gives it when it starts.

Keras picks its backend from KERAS_BACKEND when it is first imported: tensorflow (the default), jax or torch.
Importing this module changes nothing. ``configure()``, called when a run starts (experiment.run, which the
run scripts and the sweep's jobs call), gives the backend deterministic ops (same seed, same machine: same
results), full float32 arithmetic as the original ran (no TF32 on Ampere and newer cards), a GPU shared with
CuPy (no backend takes all its memory up front) and, with LDMS_THREADS=N, N threads for the framework and
NumPy's BLAS. A program that only imports the project's modules keeps its own framework settings.
"""
import importlib
import importlib.util
import os
import sys

from errors import UserError

BACKENDS = ("tensorflow", "jax", "torch")
NAME = os.environ.get("KERAS_BACKEND", "tensorflow")  # what Keras will load, its own default included
_configured = []


def installed_backends():
    """Return the names among BACKENDS whose framework can be imported here."""
    return [name for name in BACKENDS if importlib.util.find_spec(name) is not None]


def problem():
    """Return what is wrong with KERAS_BACKEND in one sentence, or None if Keras can load it here."""
    if NAME not in BACKENDS:
        return f"KERAS_BACKEND must be one of {', '.join(BACKENDS)}, got {NAME!r}"
    if NAME not in installed_backends():
        return f"KERAS_BACKEND={NAME}, but {NAME} is not installed (pip install -r requirements-{NAME}.txt)"
    return None


def exit_if_unusable():
    """For the scripts, before Keras loads: if KERAS_BACKEND cannot be used, print why on one line and exit 2."""
    if problem():
        print(f"error: {problem()}", file=sys.stderr)
        sys.exit(2)


def threads():
    """Return the thread count LDMS_THREADS asks for (0: the framework's default); UserError if it is not a count."""
    text = os.environ.get("LDMS_THREADS", "0")
    if not text.isdigit():
        raise UserError(f"LDMS_THREADS must be a whole number of threads (0: the framework's default), got {text!r}")
    return int(text)


def _configure_tensorflow(n_threads):
    import tensorflow as tf

    # Every step builds a new model, whose feature pass traces once more for its last, smaller batch: a
    # trace of well under a second per query, not worth a warning at every CIFAR-10 step.
    tf.get_logger().addFilter(lambda record: "triggered tf.function retracing" not in record.getMessage())
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)  # leave GPU memory for CuPy, or share a card
    tf.config.experimental.enable_op_determinism()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    if n_threads:
        tf.config.threading.set_intra_op_parallelism_threads(n_threads)
        tf.config.threading.set_inter_op_parallelism_threads(n_threads)


def _configure_jax(n_threads):
    # Read when JAX first uses a device, which no import does: setting them here is early enough.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # not 75% of the GPU at the first op
    flags = os.environ.get("XLA_FLAGS", "")
    if "--xla_gpu_deterministic_ops" not in flags:  # deterministic GPU kernels, no autotuning
        flags += " --xla_gpu_deterministic_ops=true"
    if n_threads:
        flags += f" --xla_cpu_multi_thread_eigen={str(n_threads > 1).lower()} intra_op_parallelism_threads={n_threads}"
    os.environ["XLA_FLAGS"] = flags.strip()
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")  # float32 matmuls and convolutions


def _configure_torch(n_threads):
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what deterministic cuBLAS needs
    import torch

    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False  # no timing-dependent choice of convolution kernels
    torch.backends.fp32_precision = "ieee"  # PyTorch 2.9's switch for TF32 (was allow_tf32)
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    torch.backends.cudnn.conv.fp32_precision = "ieee"
    if n_threads:
        torch.set_num_threads(n_threads)


def configure():
    """Give the backend a run's settings (once per process, before its first computation); UserError if
    KERAS_BACKEND cannot be used or LDMS_THREADS is not a count."""
    if _configured:
        return
    if problem():
        raise UserError(problem())
    n_threads = threads()
    {"tensorflow": _configure_tensorflow, "jax": _configure_jax, "torch": _configure_torch}[NAME](n_threads)
    if n_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n_threads)  # NumPy's BLAS: the LDM maths
    _configured.append(n_threads)


def framework():
    """Return the imported framework module of the backend (tensorflow, jax or torch)."""
    return importlib.import_module(NAME)


def devices():
    """Return the names of the devices the backend sees, e.g. ['/device:CPU:0'] or ['cuda:0 (NVIDIA H100 ...)']."""
    module = framework()
    if NAME == "tensorflow":
        return [device.name for device in module.config.list_logical_devices()]
    if NAME == "jax":
        return [f"{device} ({device.device_kind})" for device in module.devices()]
    return ["cpu"] + [f"cuda:{index} ({module.cuda.get_device_name(index)})" for index in range(module.cuda.device_count())]


def describe():
    """Return the backend, its version, its threads and the devices it sees, in one line."""
    settings = "deterministic, float32 without TF32" if _configured else "not configured"
    if _configured and _configured[0]:
        settings += f", LDMS_THREADS={_configured[0]}"
    return f"backend {NAME} {framework().__version__} ({settings}), devices {', '.join(devices())}"
