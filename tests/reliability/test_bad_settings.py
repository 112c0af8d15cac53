"""Every setting has its range; a bad value is one line naming the setting, the value, where it
came from and what is allowed; a stray DOCQA_ variable is ignored, not fatal."""

from __future__ import annotations

import logging

import pytest

from docqa import cli
from docqa.config import ConfigError, Settings

pytestmark = [pytest.mark.reliability, pytest.mark.unit]


@pytest.mark.parametrize(
    ("variable", "value", "rule"),
    [
        ("DOCQA_RETRIEVAL__TOP_K", "-3", "greater than or equal to 1"),
        ("DOCQA_RETRIEVAL__TOP_K", "0", "greater than or equal to 1"),
        ("DOCQA_INGEST__CHUNK_TOKENS", "0", "greater than or equal to 16"),
        ("DOCQA_INGEST__MAX_FILE_MB", "-1", "greater than or equal to 1"),
        ("DOCQA_UI__MAX_UPLOAD_MB", "0", "greater than or equal to 1"),
        ("DOCQA_GENERATION__MAX_TOKENS", "-5", "greater than or equal to 16"),
        ("DOCQA_GENERATION__TEMPERATURE", "9", "less than or equal to 2"),
        ("DOCQA_UI__PORT", "70000", "less than or equal to 65535"),
    ],
)
def test_out_of_range_values_name_their_variable(
    variable, value, rule, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv(variable, value)
    index = tmp_path / "index"
    assert cli.main(["--index", str(index), "ingest", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    setting = variable.removeprefix("DOCQA_").lower().replace("__", ".")
    assert err.count("\n") == 1
    assert err.startswith(f"docqa: error: {setting} = '{value}' (from {variable}): ")
    assert rule in err
    assert not index.exists()  # nothing was created with the bad value


def test_a_bad_value_in_the_file_names_the_file(tmp_path):
    config = tmp_path / "docqa.toml"
    config.write_text("[retrieval]\ntop_k = -3\n")
    with pytest.raises(ConfigError, match=rf"retrieval.top_k = -3 \(from {config}\)"):
        Settings.load(config, env={})


def test_a_stray_variable_is_ignored_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        settings = Settings.load(
            env={"DOCQA_X__Y": "1", "DOCQA_RETRIEVAL__TOPK": "3", "DOCQA_RETRIEVAL__TOP_K": "5"}
        )
    assert settings.retrieval.top_k == 5
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "DOCQA_X__Y" in warned and "DOCQA_RETRIEVAL__TOPK" in warned


def test_a_command_line_value_is_named_as_such(tmp_path, capsys):
    assert cli.main(["--index", str(tmp_path / "i"), "ask", "q?", "--top-k", "-1"]) == 1
    assert "retrieval.top_k = -1 (from the command line)" in capsys.readouterr().err


def test_a_missing_embedding_model_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DOCQA_INGEST__EMBEDDING_MODEL", str(tmp_path / "no-such-model"))
    (tmp_path / "doc.md").write_text("# Doc\n\nText.\n")
    assert cli.main(["--index", str(tmp_path / "i"), "ingest", str(tmp_path / "doc.md")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("docqa: error: embedding model ") and "no-such-model" in err
