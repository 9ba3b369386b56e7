"""``kontor ops-users``: create, update, list and deactivate operations users; the password is never echoed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from hub.accounts import verify_password
from hub.cli import main
from hub.models import AuditEntry, Partner, User


@pytest.fixture
def cli(settings):
    runner = CliRunner()
    env = {"KONTOR_DATABASE_URL": settings.database}

    def invoke(*args, input=None):
        return runner.invoke(main, list(args), env=env, input=input, catch_exceptions=False)

    return invoke


def _one(session, stmt):
    """Read, then end the transaction (on SQLite the command needs the write lock)."""
    try:
        return session.scalar(stmt)
    finally:
        session.rollback()


def test_create_with_prompted_password_then_change_role(cli, session):
    secret = "a long enough secret"
    result = cli("ops-users", "ana@kontor.example", "--role", "admin", "--name", "Ana Ops",
                 input=f"{secret}\n{secret}\n")
    assert result.exit_code == 0, result.output
    assert "ana@kontor.example: created as admin" in result.output
    assert secret not in result.output
    user = session.scalar(select(User).where(User.email == "ana@kontor.example"))
    assert user.role == "ops_admin" and user.partner_id is None and user.name == "Ana Ops"
    assert verify_password(user.password_hash, secret) and user.is_ops
    session.rollback()
    session.expunge_all()

    # the only admin keeps its role; once there is another, a role change asks for no password
    assert "last active ops admin" in cli("ops-users", "ana@kontor.example", "--role", "viewer").output
    cli("ops-users", "bob@kontor.example", "--role", "admin", "--no-password")
    changed = cli("ops-users", "ana@kontor.example", "--role", "viewer")
    assert "updated as viewer" in changed.output
    user = session.scalar(select(User).where(User.email == "ana@kontor.example"))
    assert user.role == "ops_viewer" and verify_password(user.password_hash, secret)
    session.rollback()
    listing = cli("ops-users").output
    assert "ana@kontor.example" in listing and "viewer" in listing and "bob@kontor.example" in listing
    actions = [a for (a,) in session.execute(select(AuditEntry.action).where(AuditEntry.actor == "kontor ops-users"))]
    assert actions.count("ops_user.created") == 2 and "ops_user.updated" in actions


def test_password_file_short_password_and_partner_address(cli, session, tmp_path):
    short = tmp_path / "short"
    short.write_text("tooshort\n")
    refused = cli("ops-users", "cy@kontor.example", "--role", "operator", "--password-file", str(short))
    assert refused.exit_code == 2 and "password: The password needs at least" in refused.output
    assert _one(session, select(User).where(User.email == "cy@kontor.example")) is None
    good = tmp_path / "good"
    good.write_text("correct horse battery staple\n")
    made = cli("ops-users", "cy@kontor.example", "--role", "operator", "--password-file", str(good))
    assert made.exit_code == 0 and "correct horse" not in made.output
    user = session.scalar(select(User).where(User.email == "cy@kontor.example"))
    assert verify_password(user.password_hash, "correct horse battery staple")
    session.rollback()

    partner = Partner(code="ACME", name="Acme", profile={})
    session.add(partner)
    session.flush()
    session.add(User(email="buyer@acme.example", name="B", role="buyer", partner_id=partner.id))
    session.commit()
    taken = cli("ops-users", "buyer@acme.example", "--role", "admin", "--no-password")
    assert taken.exit_code == 2 and "belongs to a user of partner ACME" in taken.output
    needs_role = cli("ops-users", "new@kontor.example", "--no-password")
    assert needs_role.exit_code == 2 and "needs --role" in needs_role.output


def test_deactivate_and_the_last_admin(cli, session):
    cli("ops-users", "only@kontor.example", "--role", "admin", "--no-password")
    cli("ops-users", "op@kontor.example", "--role", "operator", "--no-password")
    last = cli("ops-users", "only@kontor.example", "--deactivate")
    assert last.exit_code == 2 and "last active ops admin" in last.output
    done = cli("ops-users", "op@kontor.example", "--deactivate")
    assert done.exit_code == 0 and "deactivated" in done.output
    assert _one(session, select(User.active).where(User.email == "op@kontor.example")) is False
    assert _one(session, select(User.active).where(User.email == "only@kontor.example")) is True
