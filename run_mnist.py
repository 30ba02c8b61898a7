"""Reproduce the paper's LDM-S learning curves on MNIST with S-CNN: `python3 run_mnist.py --help` lists the flags."""
import sys

import backend
import quiet

quiet.filter_stderr()  # before the framework loads: its start-up notices are dropped
backend.exit_if_unusable()  # one line and exit code 2, before Keras fails on it
from experiment import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("mnist"))
