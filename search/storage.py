"""Where Ray Tune keeps a search's results and checkpoints, and whether every node sees it."""

from __future__ import annotations

import os

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
