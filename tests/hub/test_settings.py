from pathlib import Path

import pytest

from hub.settings import SettingsError, load_settings


def test_defaults_without_file_or_environment():
    settings = load_settings(config_file=False, environ={})
    assert settings.web_port == 8080
    assert settings.database.startswith("sqlite:///") and settings.database.endswith("var/kontor.db")


def test_file_then_environment_then_overrides(tmp_path: Path):
    config = tmp_path / "kontor.toml"
    config.write_text('[web]\nport = 9000\nhost = "0.0.0.0"\n[worker]\nmax_attempts = 3\n')
    settings = load_settings(config, environ={"KONTOR_WEB_PORT": "9100"})
    assert settings.web_port == 9100, "the environment wins over the file"
    assert settings.web_host == "0.0.0.0"
    assert settings.worker_max_attempts == 3
    assert load_settings(config, environ={}, web_port=1234).web_port == 1234


def test_postgres_url_from_environment():
    url = "postgresql+psycopg://kontor@db/kontor"
    assert load_settings(config_file=False, environ={"KONTOR_DATABASE_URL": url}).database == url


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[web]\nport = "eighty"\n', "[web] port: 'eighty' is not a valid int"),
        ("[web]\nport = 70000\n", "[web] port: 70000 is not a TCP port"),
        ("[web]\ncolour = 1\n", "[web] colour: unknown setting"),
        ("[nonsense]\nx = 1\n", "unknown section [nonsense]"),
        ('[database]\nurl = "mysql://x"\n', "[database] url: 'mysql://x': only sqlite"),
        ('[database]\nurl = "postgresql://x/y"\n', "must name the psycopg 3 driver"),
        ("[worker]\nmax_attempts = 0\n", "[worker] max_attempts: must be at least 1"),
        ("[web\n", "not valid TOML"),
    ],
)
def test_wrong_values_name_the_file_and_key(tmp_path: Path, text: str, expected: str):
    config = tmp_path / "kontor.toml"
    config.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(config, environ={})
    assert str(info.value).startswith(str(config))
    assert expected in str(info.value)


def test_wrong_environment_value_names_the_variable():
    with pytest.raises(SettingsError, match="environment variable KONTOR_WORKER_POLL_SECONDS: 'soon'"):
        load_settings(config_file=False, environ={"KONTOR_WORKER_POLL_SECONDS": "soon"})


def test_named_file_must_exist(tmp_path: Path):
    with pytest.raises(SettingsError, match="configuration file not found"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_secret_key_is_created_once(tmp_path: Path):
    settings = load_settings(config_file=False, environ={}, var_dir=tmp_path)
    first = settings.secret_key
    assert len(first) > 40 and settings.secret_key == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
