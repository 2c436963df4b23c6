"""The MLflow UI, as a person sees it: a real `mlflow server`, a search logged to it over
HTTP, and headless Chromium showing the search run with its nested trials.

Needs Debian's chromium and chromium-driver (.ci/run installs them) and selenium (the
dev extra). Leaves a screenshot in test-artifacts/mlflow_runs.png.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from search.compare import main as compare
from search.run import main as run_search
from tests.helpers import REPO, SPACES

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOT = REPO / "test-artifacts" / "mlflow_runs.png"
SERVER_START_S = 120  # about 8 s on an idle machine; much more while Ray trials share the 2 cores
PAGE_LOAD_S = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_group(process: subprocess.Popen) -> None:
    """Ends a process we started in its own session, with every child it spawned (workers).

    SIGINT, as Ctrl-C in a terminal: `mlflow server` stops its whole tree on it at once,
    while on SIGTERM it keeps waiting for children that have already gone.
    """
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.fixture
def mlflow_server(tmp_path):
    """`mlflow server` on 127.0.0.1 and a free port, sqlite backend, artifacts proxied by it."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "mlflow"), "server",
               "--backend-store-uri", f"sqlite:///{tmp_path}/server.db",
               "--serve-artifacts", "--artifacts-destination", str(tmp_path / "served_artifacts"),
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    # The background job runner (GenAI evaluations, trace roll-ups) starts 7 more processes
    # the runs pages never use; on 2 shared cores that is start-up time for nothing.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    # Its own session, so teardown can end the uvicorn workers it forks along with it.
    with open(tmp_path / "mlflow_server.log", "wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, server, tmp_path / "mlflow_server.log")
        yield url
    finally:
        stop_group(server)


def wait_for_health(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow server exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"mlflow server gave no /health in {SERVER_START_S} s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium through chromedriver, with a fresh profile; quit (and checked) at the end."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        # CI installs them (.ci/run), so there a missing browser is a failure, not a skip.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            f"{', '.join(missing)} missing: apt-get install -y chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path / "chromium-profile"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--window-size=1600,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = Service(CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()  # ends Chromium, then chromedriver
        service.stop()
        end_leftovers(str(profile))


def end_leftovers(profile: str) -> None:
    """Chromium helpers that outlived quit(): found by our own fresh profile folder, by pid."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if profile in command_line:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_search_over_http_shows_in_the_mlflow_ui(mlflow_server, browser, workdir, local_ray, tmp_path, capsys):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert run_search([str(SPACES / "rnn_units.yaml"), "--smoke", "--num-samples", "2",
                       "--tracking-uri", mlflow_server]) == 0
    [link] = [line.split("open ", 1)[1] for line in capsys.readouterr().out.splitlines()
              if line.strip().startswith("open http")]

    # Over HTTP, as a teammate's client sees it: the search run, its nested trials, their artifacts.
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("rnn_units")
    runs = client.search_runs([experiment.experiment_id])
    [search] = [r for r in runs if r.data.tags.get("search.role") == "search"]
    trials = [r for r in runs if r.data.tags.get("search.role") == "trial"]
    assert search.info.status == "FINISHED" and len(trials) == 2
    assert all(t.data.tags["mlflow.parentRunId"] == search.info.run_id for t in trials)
    assert search.info.artifact_uri.startswith("mlflow-artifacts:")  # stored by the server, not locally
    assert {"spec.yaml", "trials.csv"} <= {a.path for a in client.list_artifacts(search.info.run_id)}
    for trial in trials:
        artifacts = {a.path: a.is_dir for a in client.list_artifacts(trial.info.run_id)}
        assert artifacts.get("learning_curve.png") is False and artifacts.get("best_checkpoint") is True
        assert client.list_artifacts(trial.info.run_id, "best_checkpoint")  # the checkpoint's files
    picture = client.download_artifacts(trials[0].info.run_id, "learning_curve.png", str(tmp_path))
    assert Path(picture).read_bytes().startswith(b"\x89PNG")

    # The comparison reads the same server over HTTP (artifacts through its proxy).
    out = tmp_path / "comparison"
    assert compare(["rnn_units", "--tracking-uri", mlflow_server, "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "rnn_units" / "trials.csv")) == 2
    assert client.get_experiment_by_name("comparisons") is not None

    # The best model, logged through the server and registered there under the experiment's name.
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    [version] = client.search_model_versions("name = 'rnn_units'")
    (logged,) = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    assert version.run_id == logged.source_run_id == search.info.run_id
    assert version.source == f"models:/{logged.model_id}"  # registered by its model URI, as MLflow 3 does

    # The link the search printed opens the experiment on its training runs, not on MLflow
    # 3.17's GenAI overview (which is where the experiment's plain page opens in a new browser).
    assert link == f"{mlflow_server}/#/experiments/{experiment.experiment_id}?workflowType=machine_learning"
    browser.get(f"{mlflow_server}/#/experiments/{experiment.experiment_id}")
    WebDriverWait(browser, PAGE_LOAD_S).until(lambda page: "workflowType=genai" in page.current_url)
    browser.get(link)
    wait = WebDriverWait(browser, PAGE_LOAD_S)
    search_name = search.info.run_name
    row = wait.until(lambda page: page.find_element(
        By.XPATH, f"//*[@role='row'][.//*[contains(text(), '{search_name}')]]"))
    close_assistant_panel(browser)
    # Child runs sit collapsed under their parent; the "+" in the run-name cell expands them.
    trial_names = [t.info.run_name for t in trials]
    if not all(visible_text(browser, name) for name in trial_names):
        row.find_element(By.CSS_SELECTOR, "button[data-component-id*='runnamecellrenderer']").click()
    wait.until(lambda page: all(visible_text(page, name) for name in trial_names))
    assert visible_text(browser, search_name)
    assert f"/experiments/{experiment.experiment_id}/runs" in browser.current_url
    assert f"{len(runs)} matching runs" in browser.find_element(By.TAG_NAME, "body").text

    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT)) and browser.save_screenshot(str(tmp_path / "mlflow_runs.png"))
    assert SCREENSHOT.read_bytes().startswith(b"\x89PNG")


def visible_text(page, text: str) -> bool:
    from selenium.webdriver.common.by import By

    return any(e.is_displayed() for e in page.find_elements(By.XPATH, f"//*[text()='{text}']"))


def close_assistant_panel(page) -> None:
    """MLflow 3.17 opens an "MLflow Assistant" side panel over part of the table; close it."""
    from selenium.webdriver.common.by import By

    for button in page.find_elements(By.CSS_SELECTOR, "button[aria-label='Close']"):
        if button.is_displayed():
            button.click()
