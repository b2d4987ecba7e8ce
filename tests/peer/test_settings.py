"""Settings: the commented TOML file, its checks, and flags over it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from peer.__main__ import build_parser, config_from_args, settings_from_args
from peer.user_settings import (
    MAX_CONFIG_BYTES,
    SPECS,
    SettingError,
    Settings,
    load_settings,
    template,
    write_template,
)


def test_template_is_valid_toml_with_every_setting_commented_at_its_default(
    tmp_path: Path,
) -> None:
    text = template()
    assert tomllib.loads(text).keys() <= {s.key.split(".")[0] for s in SPECS}
    for spec in SPECS:
        name = spec.key.split(".", 1)[1]
        assert f"# {name} = " in text, spec.key
    path = tmp_path / "p2pchat" / "config.toml"
    assert write_template(path)
    assert not write_template(path)  # never overwrites the user's file
    settings = load_settings(path)
    assert all(source == "default" for _, _, source in settings.items())
    # Uncommenting a line is how a value is changed.
    path.write_text(text.replace("# days = 30", "days = 7"), encoding="utf-8")
    assert load_settings(path).history_days == 7


def test_values_are_checked_and_errors_name_file_and_setting(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    cases = {
        "[history]\ndays = -1\n": "history.days",
        "[history]\ndays = 'many'\n": "history.days",
        "[display]\nnick_width = 99\n": "display.nick_width",
        "[notifications]\nbell = 'loud'\n": "notifications.bell",
        "[keys]\nsearch = 'ctrl+c'\n": "reserved",
        "[keys]\nsearch = 'ctrl x'\n": "keys.search",
        "[connection]\ntracker = 'nowhere'\n": "connection.tracker",
        "[display]\ncolour = 'red'\n": "unknown setting 'display.colour'",
        "display = 3\n": "[section]",
        "[display\n": "not valid TOML",
    }
    for body, expected in cases.items():
        path.write_text(body, encoding="utf-8")
        with pytest.raises(SettingError) as caught:
            load_settings(path)
        assert expected in caught.value.message and str(path) in caught.value.message, body


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("#" * (MAX_CONFIG_BYTES + 1), encoding="utf-8")
    with pytest.raises(SettingError, match="KiB"):
        load_settings(path)


def test_session_values_and_sources() -> None:
    settings = Settings()
    settings.set("timestamp_format", "%H:%M:%S", "session")  # a bare name when unambiguous
    assert settings.timestamp_format == "%H:%M:%S"
    assert settings.source("display.timestamp_format") == "session"
    settings.known_themes = frozenset({"nord", "textual-dark"})
    with pytest.raises(SettingError, match="no theme"):
        settings.set("display.theme", "neon", "session")
    with pytest.raises(SettingError, match="no setting"):
        settings.set("volume", "11", "session")


def test_flags_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[connection]\ntracker = "10.0.0.5:7000"\nhome = "~/chat-home"\n'
        "[history]\ndays = 90\n"
        '[display]\ntheme = "nord"\n'
        "[notifications]\nbell = true\n",
        encoding="utf-8",
    )
    parser = build_parser()
    args = parser.parse_args(["--config", str(path)])
    settings = settings_from_args(args)
    config = config_from_args(args, settings)
    assert config.tracker == ("10.0.0.5", 7000)
    assert config.home == Path("~/chat-home").expanduser()
    assert (settings.history_days, settings.theme, settings.bell) == (90, "nord", True)
    assert settings.source("history.days") == "file"

    args = parser.parse_args(
        [
            "--config",
            str(path),
            "--tracker",
            "127.0.0.1:6061",
            "--home",
            str(tmp_path / "flag-home"),
            "--history-days",
            "0",
            "--theme",
            "gruvbox",
            "--no-bell",
        ]
    )
    settings = settings_from_args(args)
    config = config_from_args(args, settings)
    assert config.tracker == ("127.0.0.1", 6061)
    assert config.home == tmp_path / "flag-home"
    assert (settings.history_days, settings.theme, settings.bell) == (0, "gruvbox", False)
    assert settings.source("history.days") == "flag"
    assert settings.title  # not touched by any flag: the default


def test_the_chat_writes_the_template_on_first_run_and_batch_mode_does_not(
    tmp_path: Path,
) -> None:
    parser = build_parser()
    batch = tmp_path / "batch" / "config.toml"
    settings_from_args(parser.parse_args(["--config", str(batch)]))
    assert not batch.exists()
    chat = tmp_path / "chat" / "config.toml"
    settings = settings_from_args(parser.parse_args(["--config", str(chat)]), write_file=True)
    assert chat.exists() and settings.written
    assert "[notifications]" in chat.read_text(encoding="utf-8")
