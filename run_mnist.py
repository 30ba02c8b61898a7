"""Reproduce the paper's LDM-S learning curves on MNIST with S-CNN: `python3 run_mnist.py --help` lists the flags."""
import sys

import quiet

quiet.filter_stderr()  # before the framework loads: its start-up notices are dropped
from experiment import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("mnist"))
