"""What made a search, recorded on its run: code version, package versions, device, environment.

A colleague who finds a trial in MLflow can tell from its search run which code trained
it (the git commit, and whether the tree had uncommitted changes), which of the user's
own modules (a hash of the shipped files), which versions of Python, torch, Ray, MLflow,
Optuna and the platform, on which machine, and every installed package (`pip_freeze.txt`).
`search.reproduce` compares these with the machine it runs on before it trains.
The data's identity is search/tracking/lineage.py's dataset input, beside these.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from search import record

PLATFORM_DISTRIBUTION = "search-platform"
VERSIONED = {"torch": "torch", "ray": "ray", "mlflow": "mlflow", "optuna": "optuna",
             "platform": PLATFORM_DISTRIBUTION}
PLATFORM_FOLDER = Path(__file__).resolve().parent.parent
GIT_TIMEOUT_S = 10


@dataclass
class GitState:
    commit: str
    dirty: bool
    toplevel: str


@dataclass
class Capsule:
    tags: dict[str, str] = field(default_factory=dict)
    pip_freeze: str = ""


def git_state(folder: Path) -> GitState | None:
    """The commit checked out in `folder`'s repository and whether tracked files changed since;
    None outside a repository (or without git). Untracked files are left out: a search's own
    outputs (mlflow.db, ray_results/) would otherwise mark every tree dirty."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=True,
                              timeout=GIT_TIMEOUT_S).stdout.strip()

    try:
        toplevel = git("rev-parse", "--show-toplevel")
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return GitState(commit, dirty, toplevel)


def files_hash(paths: list[str]) -> str | None:
    """sha256 over the files of the user's shipped modules (files, or package folders walked
    in a fixed order), by their path relative to each module's folder; None without any."""
    if not paths:
        return None
    digest = hashlib.sha256()
    for root in sorted(paths):
        root_path = Path(root)
        files = [root_path] if root_path.is_file() else sorted(
            p for p in root_path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for path in files:
            digest.update(f"{root_path.name}/{path.relative_to(root_path) if path != root_path else ''};".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name, distribution in VERSIONED.items():
        try:
            found[name] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def cpu_model() -> str:
    """The CPU's model name. Python's platform.processor() gives only the architecture on
    Linux, and psutil has no model name: the kernel's /proc/cpuinfo has it."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpus() -> tuple[list[str], str | None]:
    """The names of this machine's NVIDIA GPUs and the CUDA version its driver supports, by
    NVML (nvidia-ml-py), which reads them without starting CUDA in this process."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no NVIDIA driver: no GPU
        return [], None
    try:
        names = [_text(pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i)))
                 for i in range(pynvml.nvmlDeviceGetCount())]
        driver_cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        return names, f"{driver_cuda // 1000}.{driver_cuda % 1000 // 10}"
    finally:
        pynvml.nvmlShutdown()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def pip_freeze() -> str:
    """Every installed distribution as `name==version`, one a line, as `pip freeze` lists them
    (read from the installed metadata: no pip subprocess)."""
    lines = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            lines[name.lower()] = f"{name}=={distribution.version}"
    return "\n".join(lines[key] for key in sorted(lines)) + "\n"


def torch_cuda_version() -> str | None:
    """The CUDA version torch was built with (None for a CPU-only build)."""
    import torch

    return torch.version.cuda


def code_tags(start_folder: Path | None = None) -> dict[str, str]:
    """The platform's git commit, and the start folder's where that is another repository."""
    tags = {}
    platform_git = git_state(PLATFORM_FOLDER)
    if platform_git is not None:
        tags[record.PLATFORM_COMMIT] = platform_git.commit
        tags[record.PLATFORM_DIRTY] = str(platform_git.dirty).lower()
    here = git_state(start_folder or Path(os.getcwd()))
    if here is not None and (platform_git is None or here.toplevel != platform_git.toplevel):
        tags[record.CODE_COMMIT] = here.commit
        tags[record.CODE_DIRTY] = str(here.dirty).lower()
    return tags


def capsule(shipped_modules: list[str]) -> Capsule:
    """What this machine and checkout are, for a search that ships `shipped_modules`."""
    tags = code_tags()
    user_hash = files_hash(shipped_modules)
    if user_hash is not None:
        tags[record.USER_CODE_HASH] = user_hash
    tags.update({f"{record.VERSION_PREFIX}{name}": version for name, version in versions().items()})
    names, driver_cuda = gpus()
    tags[record.DEVICE_CPU] = cpu_model()
    tags[record.DEVICE_GPU_COUNT] = str(len(names))
    if names:
        tags[record.DEVICE_GPU] = ", ".join(dict.fromkeys(names))
    cuda = torch_cuda_version()
    if cuda or driver_cuda:
        tags[record.DEVICE_CUDA] = f"{cuda or 'none'} (torch), {driver_cuda or 'none'} (driver)"
    return Capsule(tags=tags, pip_freeze=pip_freeze())


def log_capsule(client, run_id: str, made: Capsule) -> None:
    from mlflow.entities import RunTag

    client.log_batch(run_id, tags=[RunTag(key, value) for key, value in made.tags.items()])
    client.log_text(run_id, made.pip_freeze, record.PIP_FREEZE)
