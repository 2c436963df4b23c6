"""A search against a tracking server that goes away mid-search and comes back.

    python bench/outage.py [--space spaces/rnn_units.yaml] [--kill-after 30] [--down 60] [--smoke]

Runs the space twice as `python -m search.run ... --tracking-uri http://...` against a real
`mlflow server` on this machine: once with the server up throughout, once with the server
stopped `--kill-after` seconds into the search and started again `--down` seconds later
(the outage DESIGN.md measured before the spool: Tune's `on_trial_result` then took 126 s
while trials waited in `tune.report`). Figures: each run's wall time and exit status, the
longest Tune callback Tune warned about (0 when none did), and whether MLflow holds every
epoch each trial trained, each once (`record_whole`).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import record  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SLOW_CALLBACK = re.compile(r"`callbacks\.(\w+)` operation took ([\d.]+) s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, folder: Path):
        self.folder, self.port, self.process = folder, free_port(), None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri",
                   f"sqlite:///{self.folder}/server.db", "--serve-artifacts", "--artifacts-destination",
                   str(self.folder / "artifacts"), "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with open(self.folder / "server.log", "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("mlflow server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # as Ctrl-C: it ends its workers too
            self.process.wait(timeout=60)


def record_whole(uri: str, experiment: str) -> bool:
    """Every trial run's epochs, 1..n, each once, for every per-epoch metric it has."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], "tags.`search.role` = 'trial'", max_results=1000)
    for run in runs:
        for name in ("train_loss", "val_loss"):
            steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, name))
            if run.data.tags.get("search.status") != "failed" and steps != list(range(1, len(steps) + 1)):
                return False
    return bool(runs)


def one_search(space: str, smoke: bool, kill_after: float | None, down: float) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        server = Server(Path(folder))
        server.start()
        command = [sys.executable, "-m", "search.run", str(REPO / space), "--tracking-uri", server.url,
                   "--storage", str(Path(folder) / "ray_results"), *(["--smoke"] if smoke else [])]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        started = time.perf_counter()
        search = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        if kill_after is not None:
            time.sleep(kill_after)
            server.stop()
            time.sleep(down)
            server.start()
        output, _ = search.communicate()
        wall = time.perf_counter() - started
        slow = [float(seconds) for _, seconds in SLOW_CALLBACK.findall(output)]
        import yaml

        experiment = yaml.safe_load((REPO / space).read_text())["name"]
        figures = {"wall_s": round(wall, 1), "exit": search.returncode, "longest_callback_s": max(slow, default=0.0),
                   "record_whole": record_whole(server.url, experiment)}
        server.stop()
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="spaces/rnn_units.yaml")
    parser.add_argument("--kill-after", type=float, default=30.0)
    parser.add_argument("--down", type=float, default=60.0)
    parser.add_argument("--smoke", action="store_true", help="a reduced run, to check the script (not recorded)")
    args = parser.parse_args()
    steady = one_search(args.space, args.smoke, None, args.down)
    outage = one_search(args.space, args.smoke, args.kill_after, args.down)
    figures = {"space": args.space, "kill_after_s": args.kill_after, "down_s": args.down,
               "steady": steady, "outage": outage}
    print(figures)
    if not args.smoke:
        record("outage", figures, headline=False)


if __name__ == "__main__":
    main()
