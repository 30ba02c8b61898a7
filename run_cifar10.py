"""Reproduce the paper's LDM-S learning curves on CIFAR-10 with K-CNN: `python3 run_cifar10.py --help` lists the flags."""
import sys

from experiment import main

if __name__ == "__main__":
    sys.exit(main("cifar10"))
