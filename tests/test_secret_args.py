"""The command-line password filter of every entrypoint (diffexp/secret_args.py)."""

from __future__ import annotations

import os
import sys

import pytest

from diffexp.secret_args import STORAGE_PASSWORD_ENV, hide_command_line_passwords, strip_password
from diffexp.tuning.storage import with_password


@pytest.mark.parametrize(
    ("given", "bare", "password"),
    [
        ("paths.study_storage=postgresql://ann:s3cr%40t@db:5432/opt", "paths.study_storage="
         "postgresql://ann@db:5432/opt", "s3cr@t"),
        ("hydra.sweeper.storage=mysql+pymysql://u:pw@h/db?charset=utf8",
         "hydra.sweeper.storage=mysql+pymysql://u@h/db?charset=utf8", "pw"),
        ("postgresql://h/db?sslmode=require&password=pw&user=u",
         "postgresql://h/db?sslmode=require&user=u", "pw"),
        ("postgresql://h/db?password=pw", "postgresql://h/db", "pw"),
    ],
)  # fmt: skip
def test_a_url_password_is_taken_out(given, bare, password):
    assert strip_password(given) == (bare, [password])


@pytest.mark.parametrize(
    "text",
    [
        "paths.study_storage=postgresql://ann@db/opt",
        "paths.study_storage=sqlite:///outputs/optuna_study.db",
        "optimizer.lr=1e-4",
        "run=outputs/runs/a:b@c",
        "paths.study_storage=${oc.env:STORE}",
    ],
)
def test_arguments_without_a_password_are_left_alone(text):
    assert strip_password(text) == (text, [])


def test_the_entrypoint_filter_moves_the_password_to_the_environment(monkeypatch):
    # setenv first so that monkeypatch restores the variable's absence afterwards: a bare
    # delenv of an unset variable records nothing, and the password set below would leak
    # into every later test of this xdist worker
    monkeypatch.setenv(STORAGE_PASSWORD_ENV, "")
    monkeypatch.delenv(STORAGE_PASSWORD_ENV)
    monkeypatch.setenv("PGPASSWORD", "theirs")
    monkeypatch.setattr(sys, "argv", ["train", "-m", "paths.study_storage=postgresql://a:pw@h/d"])
    hide_command_line_passwords()  # pytest's own command line holds no password: no re-exec
    assert sys.argv == ["train", "-m", "paths.study_storage=postgresql://a@h/d"]
    assert os.environ[STORAGE_PASSWORD_ENV] == "pw"
    assert os.environ["PGPASSWORD"] == "theirs"  # the user's own variable is kept
    assert with_password("postgresql://a@h/d") == "postgresql://a:pw@h/d"


def test_two_different_passwords_are_one_line(monkeypatch, capsys):
    urls = [
        "paths.study_storage=postgresql://a:one@h/d",
        "hydra.sweeper.storage=postgresql://a:two@h/d",
    ]
    monkeypatch.setattr(sys, "argv", ["train", *urls])
    with pytest.raises(SystemExit) as stopped:
        hide_command_line_passwords()
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "PGPASSWORD" in error
    assert "one" not in error and "two" not in error
