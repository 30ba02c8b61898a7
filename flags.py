"""The run flags of docs/algorithm.md section 5 in one table: the run scripts' parser, their checks, what a saved state must
agree on, and plot_results' labeled counts all derive from it."""
from collections import namedtuple

Flag = namedtuple("Flag", "name mnist cifar10 help count resumed")  # count: must be >= 1; resumed: see RESUMED

FLAGS = (
    Flag("dataset", "mnist", "cifar10", "dataset: mnist or cifar10", False, True),
    Flag("network", "SCNN", "KCNN", "network: SCNN or KCNN (any case, S-CNN also works)", False, True),
    Flag("nBatch", 32, 64, "training batch size", True, True),
    Flag("nEpoch", 50, 150, "training epochs per step", True, True),
    Flag("nValid", 5000, 5000, "validation samples", True, True),
    Flag("nInit", 20, 200, "initial labeled samples", True, True),
    Flag("nPool", 2000, 4000, "pool size per query step", True, True),
    Flag("nQuery", 20, 400, "samples queried per step", True, True),
    Flag("nStep", 50, 24, "acquisition steps (nStep+1 models are trained)", False, True),
    Flag("nSample", 2000, 4000, "size of the sampling set S for rho", True, True),
    Flag("strategy", "ldms", "ldms", "query strategy: {strategies} (results of any but ldms go to "
         "{{dataset}}_{{network}}_{{strategy}})", False, True),
    Flag("nMC", 20, 20, "dropout passes of the bald strategy", True, True),
    Flag("nRep", 5, 5, "repetitions r = 0 .. nRep-1", True, False),
    Flag("seed", 0, 0, "repetition r uses seed + r for its split, pools, model and LDM (0 = the original's split)",
         False, True),
)
COUNTS = tuple(flag.name for flag in FLAGS if flag.count)
RESUMED = tuple(flag.name for flag in FLAGS if flag.resumed)  # what a saved state must agree on to be resumed


def defaults(dataset):
    """Return {flag name: default} of the run script for ``dataset`` ('mnist' or 'cifar10')."""
    return {flag.name: getattr(flag, dataset) for flag in FLAGS}
