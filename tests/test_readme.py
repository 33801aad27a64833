"""README's promises that the CI depends on: two set-up commands at the top, the second one run by .ci/run."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _setup_commands() -> list[str]:
    first_block = re.search(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    return [line for line in first_block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_the_two_setup_commands():
    run_app, run_tests = _setup_commands()
    assert run_app.endswith(".venv/bin/python app.py")
    assert run_tests.endswith(".venv/bin/python -m pytest")


def test_ci_runs_exactly_the_readme_test_command():
    commands = [
        line
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[-1] == _setup_commands()[1]
