"""The figures of plot_results.py by what they show: the values behind each line, band and cell, read from the
matplotlib figures the command line draws, and their orientation (which row beats which column, which way the axes
run, which colour is which strategy). The results are written out below, with the numbers they must give."""
import numpy as np
import pytest

import plot_results as pr
from test_plot_results import write_folder

# 3 repetitions x 3 steps at 20, 40 and 60 labels (mnist's nInit 20 and nQuery 20)
LDMS = [[0.50, 0.70, 0.80], [0.52, 0.72, 0.84], [0.48, 0.74, 0.82]]  # mean 0.50 0.72 0.82, std 0.02 0.02 0.02
RANDOM = [[0.50, 0.60, 0.70], [0.52, 0.62, 0.71], [0.48, 0.61, 0.72]]  # mean 0.50 0.61 0.71, std 0.02 0.01 0.01
# ldms - random per repetition: step 0: 0 0 0 (a tie); steps 1 and 2: 0.10 0.10 0.13, t = 11, p = 0.008: ldms wins
# 2 repetitions x 2 steps at 200 and 600 labels (cifar10's nInit 200 and nQuery 400), for the performance profile
CIFAR_LDMS, CIFAR_RANDOM = [[0.30, 0.40], [0.30, 0.40]], [[0.30, 0.44], [0.30, 0.44]]


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    """Return {title: figure} of every figure plot_results.py's command line draws for the results above."""
    root = tmp_path_factory.mktemp("figures")
    folders = [write_folder(root, name, curves) for name, curves in (
        ("mnist_SCNN", LDMS), ("mnist_SCNN_random", RANDOM), ("cifar10_KCNN", CIFAR_LDMS),
        ("cifar10_KCNN_random", CIFAR_RANDOM))]
    drawn, new_figure = [], pr.new_figure

    def recording_new_figure(**kwargs):
        drawn.append(new_figure(**kwargs))
        return drawn[-1]

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(pr, "new_figure", recording_new_figure)
        assert pr.main([*map(str, folders), "--out", str(root / "out")]) == 0
    return {figure.axes[0].get_title(): figure for figure in drawn}


def band(collection):
    """Return {x: (lowest y, highest y)} of a fill_between band."""
    vertices = collection.get_paths()[0].vertices
    return {x: (round(vertices[vertices[:, 0] == x, 1].min(), 6), round(vertices[vertices[:, 0] == x, 1].max(), 6))
            for x in np.unique(vertices[:, 0])}


def test_curves_show_each_mean_its_std_band_and_its_difference_to_random(figures):
    accuracy, difference = figures["mnist SCNN: test accuracy (mean ± std over repetitions)"].axes
    ldms, random = accuracy.lines
    assert (ldms.get_label(), ldms.get_color(), random.get_label(), random.get_color()) == (
        "ldms (n=3)", "C0", "random (n=3)", "C1")
    assert ldms.get_xdata().tolist() == [20, 40, 60]  # labeled samples, not steps
    np.testing.assert_allclose(ldms.get_ydata(), [0.50, 0.72, 0.82])
    np.testing.assert_allclose(random.get_ydata(), [0.50, 0.61, 0.71])
    ldms_band, random_band = accuracy.collections
    assert band(ldms_band) == {20: (0.48, 0.52), 40: (0.70, 0.74), 60: (0.80, 0.84)}  # sample std, ddof 1
    assert band(random_band) == {20: (0.48, 0.52), 40: (0.60, 0.62), 60: (0.70, 0.72)}
    (above_random,) = [line for line in difference.lines if line.get_label() == "ldms"]
    np.testing.assert_allclose(above_random.get_ydata(), [0, 0.11, 0.11], atol=1e-12)  # ldms minus random
    assert above_random.get_color() == "C0"
    assert difference.get_xlabel() == "labeled samples" and not difference.xaxis_inverted()
    assert accuracy.get_ylabel() == "test accuracy" and not accuracy.yaxis_inverted()


def test_penalty_matrix_rows_are_winners_and_columns_the_beaten(figures):
    axis = figures["mnist SCNN: penalty matrix (3 steps)"].axes[0]
    image = axis.images[0]
    cells = image.get_array()
    assert cells.mask.tolist() == [[True, False], [False, True], [False, False]]  # no strategy against itself
    np.testing.assert_allclose(cells.data[~cells.mask], [2 / 3, 0, 0, 2 / 3])  # ldms beats random at 2 of 3 steps
    texts = {tuple(map(int, text.get_position())): text.get_text() for text in axis.texts}
    assert texts == {(1, 0): "0.67", (0, 1): "0.00", (0, 2): "0.00", (1, 2): "0.67"}  # at (column, row)
    assert [label.get_text() for label in axis.get_yticklabels()] == ["ldms", "random", "column mean"]
    assert [label.get_text() for label in axis.get_xticklabels()] == ["ldms", "random"]
    assert (axis.get_ylabel(), axis.get_xlabel()) == ("winning strategy", "beaten strategy")
    assert axis.yaxis_inverted()  # the first row on top
    assert image.get_clim() == (0, 1) and image.get_cmap().name == "Reds"  # darker: beaten more often


def drawn_at(line, tau):
    """Return the height of a step line drawn 'post' at ``tau``."""
    return line.get_ydata()[np.searchsorted(line.get_xdata(), tau, side="right") - 1]


def test_performance_profile_shows_the_share_of_points_within_tau_of_the_best(figures):
    axis = figures["Performance profile"].axes[0]
    lines = {line.get_label(): line for line in axis.lines}
    assert (lines["ldms"].get_color(), lines["random"].get_color()) == ("C0", "C1")  # as in the curves
    assert lines["ldms"].get_drawstyle() == "steps-post"
    # best / own mean at the 5 (dataset, step) points: ldms 1 1.1 (cifar10), 1 1 1 (mnist); random 1 1, 1 1.18 1.15
    assert [drawn_at(lines["ldms"], tau) for tau in (1, 1.05, 1.16, 1.2)] == [0.8, 0.8, 1, 1]
    assert [drawn_at(lines["random"], tau) for tau in (1, 1.05, 1.16, 1.2)] == [0.6, 0.6, 0.8, 1]
    assert axis.get_xlim()[0] == 1 and not axis.xaxis_inverted()
