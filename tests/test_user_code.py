"""A user's own model and task by import path (module:callable), from their own folder.

Every way an import path can be wrong is refused before anything starts: one line naming
the spec key and the value, exit status 2, nothing written.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from search.data.electricity import builtin_series

from search.errors import SpecError
from search.run import main
from search.space.validation import load_spec
from tests.helpers import REPO
from tests.user_project import SPACE, write_user_project

USER_MODULES = ("models", "models.gru", "my_nets", "my_tasks", "broken_import")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The user's folder as the current one; their modules forgotten afterwards, so the next
    test's folder (or the platform) is never shadowed by this one's."""
    space = write_user_project(tmp_path, builtin_series().to_numpy()[:600])
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield space
    for name in USER_MODULES:
        sys.modules.pop(name, None)


def refusal(space, *edits) -> str:
    text = SPACE
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    space.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_spec(space)
    message = str(caught.value)
    assert "\n" not in message and str(space) in message
    return message


def test_the_users_model_and_task_resolve_with_their_options(project):
    spec = load_spec(project)
    assert spec.task == "my_tasks:SalesTask"
    assert spec.model == {"name": "models.gru:TinyGRU", "hidden": 8, "layers": 1}  # defaults filled in
    assert spec.data == {"path": "data/sales.csv", "window": 8}
    assert spec.kind == "regression"


@pytest.mark.parametrize("edits, expected", [
    ([("models.gru:TinyGRU", "nowhere:Net")], "model.name: 'nowhere:Net': no module named 'nowhere'"),
    ([("models.gru:TinyGRU", "broken_import:Net")],
     "model.name: 'broken_import:Net': importing broken_import failed: ModuleNotFoundError: "
     "No module named 'no_such_dependency_xyz'"),
    ([("models.gru:TinyGRU", "my_nets:Missing")], "module 'my_nets' has no attribute 'Missing'"),
    ([("models.gru:TinyGRU", "my_nets:NOT_CALLABLE")], "'my_nets:NOT_CALLABLE' is not callable (it is a int)"),
    ([("models.gru:TinyGRU", "my_nets:NotAModule")], "is a class but not a torch.nn.Module"),
    ([("models.gru:TinyGRU", "my_nets:needs_colour"), ("hidden: 8", "colour: red")],
     "needs 'colour', which this task does not fill (it fills input_size, output_size)"),
    ([("hidden: 8}", "hidden: 8, width: 3}")], "model.width: unknown option of model 'models.gru:TinyGRU'; "
     "allowed: hidden, layers"),
    ([("hidden: 8}", "hidden: many}")], "model.hidden: Input should be a valid integer"),
    ([("models.gru:TinyGRU", "my nets:Net")], "is not module:callable"),
    ([("my_tasks:SalesTask", "my_tasks:NotATask")], "task: 'my_tasks:NotATask' is not a subclass of "
     "search.data.Task"),
    ([("my_tasks:SalesTask", "my_tasks:Gone")], "module 'my_tasks' has no attribute 'Gone'"),
    ([("window: 8}", "window: 1}")], "data.window: Input should be greater than or equal to 2"),
    ([("{choice: [4, 8]}", "{choice: [4, eight]}")], "space.model.hidden: value 'eight' is not allowed"),
])
def test_a_wrong_import_path_is_one_named_line(project, edits, expected):
    message = refusal(project, *edits)
    assert expected in message, message


@pytest.mark.parametrize("name, expected", [
    ("my_nets:raises", "model.name: 'my_nets:raises': building it with the base config failed: "
                       "ValueError: hidden must be even, got 7"),
    ("my_nets:wrong_shape", "model.name: 'my_nets:wrong_shape': returns shape [2, 8, 3] for one example "
                            "batch of shape [2, 8, 1]; the my_tasks:SalesTask task needs [2, 1]"),
    ("my_nets:not_a_module", "model 'my_nets:not_a_module' returned a str, not a torch.nn.Module"),
])
def test_a_model_that_fails_on_one_batch_is_refused_before_anything_starts(project, capsys, name, expected):
    project.write_text(SPACE.replace("models.gru:TinyGRU, hidden: 8", name).replace(
        "model.hidden: {choice: [4, 8]}", "train.lr: {loguniform: [1.0e-3, 1.0e-2]}"))
    for args in (["--dry-run"], []):  # the dry run, and a real start: refused the same way
        assert main([str(project), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, err
    assert sorted(p.name for p in project.parent.iterdir()) == [
        "broken_import.py", "data", "models", "my_nets.py", "my_tasks.py", "space.yaml"]  # nothing written


def test_dry_run_prints_the_users_layers(project, capsys):
    assert main([str(project), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "GRU (gru)" in out and "Linear (head)" in out and "[2, 1]" in out
    assert "model.hidden  choice [4, 8]" in out


def test_own_data_and_models_folders_never_shadow_the_platform(tmp_path):
    """`python -m search.run` from a folder with the user's own data/ and models/ (with and
    without __init__.py) runs the platform's tasks and models, from the repository too."""
    for with_init in ("data", "models"):
        folder = tmp_path / with_init
        (folder / "data").mkdir(parents=True)
        (folder / "models").mkdir()
        (folder / with_init / "__init__.py").write_text("raise ImportError('the user package, not ours')\n")
        done = subprocess.run([sys.executable, "-m", "search.run", str(REPO / "spaces" / "rnn_units.yaml"),
                               "--dry-run"], cwd=folder, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Total params: 5,377" in done.stdout
