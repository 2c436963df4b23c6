"""Resume after a crash when Tune's saved state names a checkpoint that is gone.

A trial checkpoints every epoch and `num_to_keep` deletes the checkpoints it replaces,
while Tune saves its experiment state (which names each trial's latest checkpoint) only
after the replacement. A driver killed in between leaves a state that names a deleted
checkpoint, and Tune then fails the trial on resume ("Could not recover from checkpoint
as it does not exist on storage anymore"; ray-project/ray#27790; the fallback Tune once
had for it did not survive its storage rewrite). Before any trial starts, this points
such a trial at the newest complete checkpoint left in its folder instead.
"""

from __future__ import annotations

import logging
import posixpath

import pyarrow.fs
from ray import tune

from search.trial.checkpoints import CHECKPOINT_FILE
from search.tuning.ray_internals import continue_from, forget_checkpoints, latest_checkpoint

log = logging.getLogger(__name__)


def is_complete(checkpoint: tune.Checkpoint) -> bool:
    """Whether the checkpoint's file is on storage (not deleted, not cut short by a crash)."""
    found = checkpoint.filesystem.get_file_info(posixpath.join(checkpoint.path, CHECKPOINT_FILE))
    return found.type == pyarrow.fs.FileType.File


def newest_complete_checkpoint(fs: pyarrow.fs.FileSystem, trial_dir: str) -> tune.Checkpoint | None:
    entries = fs.get_file_info(pyarrow.fs.FileSelector(trial_dir, allow_not_found=True))
    saved = [tune.Checkpoint(e.path, filesystem=fs) for e in sorted(entries, key=lambda e: e.path)
             if e.type == pyarrow.fs.FileType.Directory and e.base_name.startswith("checkpoint_")]
    complete = [c for c in saved if is_complete(c)]
    return complete[-1] if complete else None


class RepairStaleCheckpoints(tune.Callback):
    """Checks each trial's latest checkpoint once, before it runs.

    Given to every Tuner, since Tune restores the callbacks a search started with; in a
    search that was not resumed, a trial has no checkpoint yet when it is first seen.
    """

    def __init__(self):
        self.checked: set[str] = set()

    def on_step_begin(self, iteration, trials, **info):
        for trial in trials:
            if trial.trial_id not in self.checked:
                self.checked.add(trial.trial_id)
                repair(trial)


def repair(trial) -> None:
    # Forgetting the gone checkpoints keeps the best trial's evaluation off them, and Tune
    # from deleting them again.
    forget_checkpoints(trial, keep=is_complete)
    gone = latest_checkpoint(trial)
    if gone is None or is_complete(gone):
        return
    newest = newest_complete_checkpoint(gone.filesystem, posixpath.dirname(gone.path.rstrip("/")))
    if newest is None:
        log.warning("trial %s: checkpoint %s is gone and no other is left", trial.trial_id, gone.path)
        return
    log.warning("trial %s: checkpoint %s is gone; continuing from %s", trial.trial_id, gone.path, newest.path)
    continue_from(trial, newest)
