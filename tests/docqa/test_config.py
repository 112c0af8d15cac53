from pathlib import Path

import pytest

from docqa.config import ConfigError, Settings

pytestmark = pytest.mark.unit


def test_defaults_need_no_file_or_env():
    s = Settings.load(env={})
    assert s.generation.model == "qwen2.5-coder-1.5b"
    assert s.ingest.chunk_tokens < 256


def test_file_then_env_then_overrides(tmp_path):
    cfg = tmp_path / "docqa.toml"
    cfg.write_text('index_dir = "/from/file"\n[retrieval]\ntop_k = 7\ncandidates = 30\n')
    env = {"DOCQA_INDEX": "/from/env", "DOCQA_RETRIEVAL__TOP_K": "3"}
    s = Settings.load(cfg, env=env, overrides={"retrieval.candidates": 12})
    assert s.index_dir == Path("/from/env")
    assert s.retrieval.top_k == 3
    assert s.retrieval.candidates == 12


def test_unknown_keys_and_bad_files_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[retrieval]\ntopk = 3\n")
    with pytest.raises(
        ConfigError, match="retrieval.topk = 3 .from .*bad.toml.: there is no such setting"
    ):
        Settings.load(bad, env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("= nope")
    with pytest.raises(ConfigError, match="invalid TOML"):
        Settings.load(broken, env={})
    with pytest.raises(ConfigError, match="not found"):
        Settings.load(tmp_path / "absent.toml", env={})


def test_the_level_is_a_name_or_a_probability():
    assert Settings.load(env={}).factcheck.level == "balanced"
    assert Settings.load(env={"DOCQA_FACTCHECK__LEVEL": "strict"}).factcheck.level == "strict"
    assert Settings.load(env={"DOCQA_FACTCHECK__LEVEL": "0.7"}).factcheck.level == 0.7
    for bad in ("1.5", "paranoid"):
        with pytest.raises(ConfigError, match="factcheck.level"):
            Settings.load(env={"DOCQA_FACTCHECK__LEVEL": bad})
