"""Reproduce the paper's LDM-S learning curves on MNIST with S-CNN: `python3 run_mnist.py --help` lists the flags."""
import sys

from experiment import main

if __name__ == "__main__":
    sys.exit(main("mnist"))
