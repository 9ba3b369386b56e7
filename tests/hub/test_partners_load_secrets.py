"""``kontor partners load`` stores a partner file's secrets encrypted in the load itself, not after a worker tick."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import create_engine, select, text

from hub.cli import main
from hub.models import Channel
from hub.secrets import decrypt_settings, is_encrypted
from hub.settings import load_settings

PARTNER = '''
code = "SEALED"
name = "Sealed GmbH"

[[identifiers]]
scheme = "GLN"
value = "4099999000005"

[[channels]]
name = "their-sftp"
kind = "sftp"
direction = "out"
host = "sftp.sealed.example"
username = "kontor"
password = "from-the-file-1234"
host_keys = []
outbound_dir = "in"
'''


def test_secrets_are_encrypted_at_load_time(tmp_path, db_url, session):
    folder = tmp_path / "partners"
    folder.mkdir()
    (folder / "sealed.toml").write_text(PARTNER)
    env = {"KONTOR_DATABASE_URL": db_url, "KONTOR_VAR_DIR": str(tmp_path / "var")}
    runner = CliRunner()
    result = runner.invoke(main, ["partners", "load", "--dir", str(folder)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "SEALED: created" in result.output and "secrets of 1 channel(s) stored encrypted" in result.output
    assert "from-the-file" not in result.output

    stored = session.scalar(select(Channel.settings).where(Channel.name == "their-sftp"))
    session.rollback()
    assert is_encrypted(stored["password"]) and stored["username"] == "kontor"
    settings = load_settings(config_file=False, environ={}, database_url=db_url, var_dir=tmp_path / "var")
    assert decrypt_settings(settings, stored)["password"] == "from-the-file-1234"
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            raw = " ".join(str(v) for (v,) in connection.execute(text("SELECT settings FROM channel")))
    finally:
        engine.dispose()
    assert "from-the-file" not in raw

    # loading the unchanged file again seals again: the plaintext never stays
    again = runner.invoke(main, ["partners", "load", "--dir", str(folder)], env=env, catch_exceptions=False)
    assert "SEALED: updated" in again.output and "stored encrypted" in again.output
    stored = session.scalar(select(Channel.settings).where(Channel.name == "their-sftp"))
    session.rollback()
    assert is_encrypted(stored["password"])
