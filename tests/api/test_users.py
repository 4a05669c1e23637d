"""`smo user add|list|revoke`: tokens are printed once, stored hashed, and revocation bites at once."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlmodel import Session, select
from typer.testing import CliRunner

from models.settings import Settings
from models.users import ApiUser, Role
from runtime.db import make_engine
from starter.cli import app
from starter.dev import DEV_USER, ensure_dev_token
from web.tokens import TOKEN_RE, TokenStore


def test_a_supervisor_adds_a_scoped_coordinator_whose_token_is_the_last_line_and_stored_hashed(
    settings: Settings,
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["user", "add", "sreymom", "--role", "coordinator", "--program", "prudential-kh"]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert TOKEN_RE.match(token)
    tokens = TokenStore(make_engine(settings.db_url))
    who = tokens.resolve(token)
    assert who is not None and who.role is Role.COORDINATOR and who.programs == {"prudential-kh"}
    with Session(tokens.engine) as session:
        row = session.exec(select(ApiUser)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in repr(
        row.model_dump()
    )

    listed = runner.invoke(app, ["user", "list"])
    assert listed.exit_code == 0 and "sreymom" in listed.output and "active" in listed.output
    assert token not in listed.output
    assert runner.invoke(app, ["user", "revoke", "sreymom"]).exit_code == 0
    assert tokens.resolve(token) is None
    assert "revoked" in runner.invoke(app, ["user", "list"]).output


def test_user_mistakes_are_one_error_line_with_exit_code_2(settings: Settings) -> None:
    runner = CliRunner()
    for argv in (
        ["user", "add", "x y", "--role", "coordinator"],
        ["user", "add", "dara", "--role", "admin"],
        ["user", "add", "dara", "--role", "supervisor", "--program", "../etc"],
        ["user", "revoke", "nobody"],
    ):
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, (argv, result.output)
        assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1, (
            result.output
        )
    assert runner.invoke(app, ["user", "add", "dara", "--role", "supervisor"]).exit_code == 0
    again = runner.invoke(app, ["user", "add", "dara", "--role", "supervisor"])
    assert again.exit_code == 2 and "revoke it first" in again.output


def test_smo_dev_writes_a_working_coordinator_token_into_the_secrets_file_once(settings: Settings) -> None:
    tokens = TokenStore(make_engine(settings.db_url))
    token = ensure_dev_token(settings, tokens)
    secrets = Path(settings.home / "secrets.env").read_text(encoding="utf-8")
    assert f"SMO_TOKEN={token}" in secrets and secrets.count("SMO_TOKEN=") == 1
    who = tokens.resolve(token)
    assert who is not None and who.name == DEV_USER and who.role is Role.COORDINATOR
    assert ensure_dev_token(settings, tokens) == token  # a restart keeps it
