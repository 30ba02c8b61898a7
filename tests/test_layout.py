"""The results layout: names written out literally, as the README and docs/results.md give them."""
from pathlib import Path

from layout import file_kind, folder_labels, folder_name, repetition_files, repetition_numbers, step_logs


def test_repetition_files_are_named_from_one():
    files = repetition_files(Path("out/mnist_SCNN"), 0)
    assert [str(path) for path in files] == ["out/mnist_SCNN/test_accs_001.txt", "out/mnist_SCNN/state_001.npz",
                                             "out/mnist_SCNN/state_001.lock", "out/mnist_SCNN/steps_001.jsonl"]
    assert repetition_files("x", 999).results.name == "test_accs_1000.txt"


def test_file_kind():
    assert file_kind("test_accs_012.txt") == ("results", 12)
    assert file_kind("state_003.npz") == ("state", 3)
    assert file_kind("state_003.lock") == ("lock", 3)
    assert file_kind("steps_1000.jsonl") == ("steps", 1000)
    for other in ("test_accs_01.txt", "test_accs_0001.txt", "state_0012.npz", "state_003.txt", "steps_003.npz", "test_accs_001.txt.tmp", "settings.json"):
        assert file_kind(other) is None


def test_repetition_numbers(tmp_path):
    for name in ("test_accs_002.txt", "state_002.npz", "state_005.lock", "steps_007.jsonl", "notes.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "test_accs_009.txt").mkdir()
    assert repetition_numbers(tmp_path) == [2, 5]
    assert repetition_numbers(tmp_path, ("results",)) == [2]
    assert step_logs(tmp_path) == [tmp_path / "steps_007.jsonl"]


def test_folder_names_both_ways():
    assert folder_name("mnist", "SCNN", "ldms") == "mnist_SCNN"
    assert folder_name("cifar10", "KCNN", "badge") == "cifar10_KCNN_badge"
    assert folder_labels("mnist_SCNN") == ("mnist", "SCNN", "ldms")
    assert folder_labels("cifar10_KCNN_core_set") == ("cifar10", "KCNN", "core_set")
    for other in ("mnist", "mnist_", "mnist__badge", "mnist_SCNN_", "_SCNN", "svhn_SCNN", "logs_2026"):
        assert folder_labels(other) is None
