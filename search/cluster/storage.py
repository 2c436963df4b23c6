"""Where Ray Tune keeps a search's results and checkpoints, and whether every node sees it."""

from __future__ import annotations

import os
import tempfile

from search.errors import SpecError

# Filesystems that other machines can mount: a local path on one of these is shared.
SHARED_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph",
                      "glusterfs", "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.juicefs", "9p")


def resolve_storage(storage: str | None) -> str:
    """null -> ./ray_results; a path -> absolute (Ray needs it); a URI (s3://, gs://, file://) as given."""
    storage = storage or "ray_results"
    return storage if "://" in storage else os.path.abspath(os.path.expanduser(storage))


def filesystem_type(path: str) -> str:
    """The type of the filesystem mounted deepest above `path` (Linux /proc/mounts)."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) >= 3 and (path == fields[1] or path.startswith(fields[1].rstrip("/") + "/")):
                    if len(fields[1]) > len(best):
                        best, kind = fields[1], fields[2]
    except OSError:
        pass
    return kind


def check_storage_reaches_every_node(storage: str, alive_nodes: int) -> None:
    """Since Ray 2.7 trial checkpoints go to storage_path; on several nodes it must be shared."""
    if alive_nodes <= 1 or "://" in storage:
        return  # one node, or a URI: a bucket, or file:// for a path the user says is shared
    kind = filesystem_type(storage)
    if kind not in SHARED_FILESYSTEMS:
        raise SpecError(
            f"search.storage: {storage} is on this machine's own disk ({kind}), but the cluster has "
            f"{alive_nodes} nodes and trial checkpoints must reach every node; give --storage "
            "s3://bucket/path, gs://bucket/path, or a shared mount (file:///mnt/shared/path)")


def check_writable_folder(path: str, where: str) -> None:
    """A folder that is there or can be made, and that takes a file; nothing is left behind.

    The probe file goes into the deepest folder that exists already, so a refused search
    creates no folder either.
    """
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(path) and not os.path.isdir(path):
        raise SpecError(f"{where}: {path} is a file; a folder is needed there")
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise SpecError(f"{where}: {path}: {existing} is a file, so no folder can be made below it")
    try:
        handle, probe = tempfile.mkstemp(prefix=".write-probe-", dir=existing)
        os.close(handle)
        os.remove(probe)
    except OSError as err:
        raise SpecError(f"{where}: {path}: cannot write in {existing} ({err.strerror}); give a "
                        "writable folder") from None


def check_storage_writable(storage: str) -> None:
    """search.storage takes Ray Tune's files before the search run is created.

    A bucket (s3://, gs://) is not probed: that would need its credentials and the network
    here, on the driver, where the trials' nodes are the ones that write to it.
    """
    if storage.startswith("file://"):
        storage = storage.removeprefix("file://")
    elif "://" in storage:
        return
    check_writable_folder(storage, "search.storage")
