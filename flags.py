"""The run flags of docs/algorithm.md section 5 in one table: the run scripts' parser, their checks, the settings a
run records, and plot_results' labeled counts all derive from it."""
from dataclasses import dataclass

from layout import DEFAULT_STRATEGY


@dataclass(frozen=True)
class Flag:
    """One flag of run_mnist.py and run_cifar10.py: its default in each, its help text ({strategies} is filled in
    with the strategies' names), whether it is a count (it must be at least 1) and whether it is recorded (see
    RECORDED)."""

    name: str
    mnist: object
    cifar10: object
    help: str
    count: bool = False
    recorded: bool = True


FLAGS = (
    Flag(name="dataset", mnist="mnist", cifar10="cifar10", help="dataset: mnist or cifar10"),
    Flag(name="network", mnist="SCNN", cifar10="KCNN", help="network: SCNN or KCNN (any case, S-CNN also works)"),
    Flag(name="nBatch", mnist=32, cifar10=64, help="training batch size", count=True),
    Flag(name="nEpoch", mnist=50, cifar10=150, help="training epochs per step", count=True),
    Flag(name="nValid", mnist=5000, cifar10=5000, help="validation samples", count=True),
    Flag(name="nInit", mnist=20, cifar10=200, help="initial labeled samples", count=True),
    Flag(name="nPool", mnist=2000, cifar10=4000, help="pool size per query step", count=True),
    Flag(name="nQuery", mnist=20, cifar10=400, help="samples queried per step", count=True),
    Flag(name="nStep", mnist=50, cifar10=24, help="acquisition steps (nStep+1 models are trained)"),
    Flag(name="nSample", mnist=2000, cifar10=4000, help="size of the sampling set S for rho", count=True),
    Flag(name="strategy", mnist=DEFAULT_STRATEGY, cifar10=DEFAULT_STRATEGY,
         help="query strategy: {strategies} (results of any but ldms go to {{dataset}}_{{network}}_{{strategy}})"),
    Flag(name="nMC", mnist=20, cifar10=20, help="dropout passes of the bald strategy", count=True),
    Flag(name="nRep", mnist=5, cifar10=5, help="repetitions r = 0 .. nRep-1", count=True, recorded=False),
    Flag(name="seed", mnist=0, cifar10=0,
         help="repetition r uses seed + r for its split, pools, model and LDM (0 = the original's split)"),
)
COUNTS = tuple(flag.name for flag in FLAGS if flag.count)
# The flags that shape a run's curves (all but nRep), recorded with the Keras backend in each repetition's state and
# in settings.json (experiment.run_settings). A saved state resumes only if they agree, nStep aside: a run may be
# taken further with a larger --nStep (docs/algorithm.md section 1.5).
RECORDED = tuple(flag.name for flag in FLAGS if flag.recorded)


def defaults(dataset):
    """Return {flag name: default} of the run script for ``dataset`` ('mnist' or 'cifar10')."""
    return {flag.name: getattr(flag, dataset) for flag in FLAGS}
