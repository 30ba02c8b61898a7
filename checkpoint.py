"""The saved state of a repetition, so that an interrupted run goes on from its last completed step."""
import json
import os
import zipfile

import numpy as np

from errors import UserError

ARRAYS = ("labeled", "unlabeled", "valid", "sampling_set", "accuracies", "rng_key")
VERSION = 1


def save_state(path, settings, accuracies, labeled, unlabeled, valid, sampling_set, protocol_rng):
    """Atomically write the state after a completed step: index sets, accuracies so far, the protocol
    generator's state and the settings that made them (temporary file, flush, fsync, rename)."""
    rng_state = protocol_rng.get_state(legacy=False)
    meta = {"version": VERSION, "settings": settings, "rng_pos": rng_state["state"]["pos"],
            "rng_has_gauss": rng_state["has_gauss"], "rng_gauss": rng_state["gauss"]}
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        np.savez(file, meta=np.array(json.dumps(meta)), labeled=labeled, unlabeled=unlabeled, valid=valid,
                 sampling_set=sampling_set, accuracies=np.asarray(accuracies, dtype=np.float64),
                 rng_key=rng_state["state"]["key"])
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def load_state(path):
    """Return the saved state as a dict (arrays, 'settings', 'protocol_rng'), or None if there is none.

    A file that cannot be read is a UserError naming it; it is left as it is.
    """
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            state = {name: saved[name] for name in ARRAYS}
            meta = json.loads(str(saved["meta"]))
        if meta.get("version") != VERSION:
            raise ValueError(f"version {meta.get('version')}, expected {VERSION}")
        protocol_rng = np.random.RandomState()
        protocol_rng.set_state({"bit_generator": "MT19937", "state": {"key": state.pop("rng_key"), "pos": meta["rng_pos"]},
                                "has_gauss": meta["rng_has_gauss"], "gauss": meta["rng_gauss"]})
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
        raise UserError(f"{path}: corrupt or truncated state file ({type(error).__name__}: {error}); it was left "
                        "as it is: remove it, or run with --fresh to start this repetition over") from None
    state.update(settings=meta["settings"], protocol_rng=protocol_rng, accuracies=state["accuracies"].tolist())
    return state
