"""hub.resolve_checkpoint: directories as they are, Hub ids from a Hugging Face cache laid out as huggingface_hub
writes it (refs/<revision> → snapshots/<commit>/ → ../../blobs/<etag>), revisions, incomplete snapshots, the
one-line errors, and the --init alias of the training command lines."""

import hashlib
import os
import shutil

import pytest

from lowbit_train import hub
from lowbit_train.model import load_hf
from lowbit_train.train import config_argv

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_GPT2 = os.path.join(ROOT, "test", "fixtures", "gpt2", "tiny-f32")
TINY_GPT2_SHARDED = os.path.join(ROOT, "test", "fixtures", "gpt2", "tiny-f16")
COMMIT_MAIN = "a" * 40
COMMIT_V1 = "b" * 40


def put_snapshot(cache: str, repo_id: str, commit: str, source_dir: str, refs=("main",), skip=()) -> str:
    """Copies source_dir's files into the cache as huggingface_hub does: each file a blob named by its hash, the
    snapshot's entries relative symlinks to it, refs/<ref> holding the commit. Returns the snapshot folder."""
    repo = os.path.join(cache, "models--" + repo_id.replace("/", "--"))
    snapshot = os.path.join(repo, "snapshots", commit)
    os.makedirs(os.path.join(repo, "blobs"), exist_ok=True)
    os.makedirs(snapshot, exist_ok=True)
    for name in sorted(os.listdir(source_dir)):
        if name in skip or name == "expected.json":
            continue
        with open(os.path.join(source_dir, name), "rb") as f:
            data = f.read()
        etag = hashlib.sha256(data).hexdigest()
        with open(os.path.join(repo, "blobs", etag), "wb") as f:
            f.write(data)
        os.symlink(os.path.join("..", "..", "blobs", etag), os.path.join(snapshot, name))
    for ref in refs:
        path = os.path.join(repo, "refs", ref)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(commit)  # no newline, as huggingface_hub writes it
    return snapshot


def resolve_error(value: str, what: str) -> str:
    """The message of the FileNotFoundError resolve_checkpoint raises for `value`, checked to be one line."""
    with pytest.raises(FileNotFoundError) as err:
        hub.resolve_checkpoint(value, what)
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.fixture
def hf_home(tmp_path, monkeypatch):
    """An empty HF_HOME of the test's own; no other cache variable leaks in from the environment."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    return home


def test_a_directory_is_used_as_it_is(tmp_path):
    assert hub.resolve_checkpoint(TINY_GPT2) == TINY_GPT2
    assert hub.resolve_checkpoint(str(tmp_path)) == str(tmp_path)


def test_cache_dir_follows_huggingface_hub_variables(hf_home, monkeypatch, tmp_path):
    assert hub.hub_cache_dir() == str(hf_home / "hub")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    assert hub.hub_cache_dir() == str(tmp_path / "elsewhere")
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.delenv("HF_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub.hub_cache_dir() == str(tmp_path / "xdg" / "huggingface" / "hub")


def test_hub_id_resolves_to_the_cached_snapshot_and_loads(hf_home):
    snapshot = put_snapshot(str(hf_home / "hub"), "lowbit-test/tiny-gpt2", COMMIT_MAIN, TINY_GPT2)
    assert snapshot.endswith(os.path.join("models--lowbit-test--tiny-gpt2", "snapshots", COMMIT_MAIN))
    assert hub.resolve_checkpoint("lowbit-test/tiny-gpt2") == snapshot
    assert os.path.islink(os.path.join(snapshot, "model.safetensors"))
    config, model = load_hf(hub.resolve_checkpoint("lowbit-test/tiny-gpt2"))  # through the symlinks
    reference_config, reference = load_hf(TINY_GPT2)
    assert config == reference_config
    for (name, a), (_, b) in zip(model.state_dict().items(), reference.state_dict().items()):
        assert a.equal(b), name


def test_revisions_name_refs_or_commits(hf_home):
    cache = str(hf_home / "hub")
    main = put_snapshot(cache, "gpt2", COMMIT_MAIN, TINY_GPT2)
    v1 = put_snapshot(cache, "gpt2", COMMIT_V1, TINY_GPT2_SHARDED, refs=("v1", "refs/pr/1"))
    assert hub.resolve_checkpoint("gpt2") == main
    assert hub.resolve_checkpoint("gpt2@main") == main
    assert hub.resolve_checkpoint("gpt2@v1") == v1
    assert hub.resolve_checkpoint("gpt2@refs/pr/1") == v1  # a nested ref, as the Hub names pull requests
    assert hub.resolve_checkpoint(f"gpt2@{COMMIT_V1}") == v1  # a commit needs no ref
    assert hub.cached_snapshot("gpt2", "v2", cache) == (None, f"no {os.path.join(cache, 'models--gpt2', 'refs', 'v2')}")


def test_an_incomplete_snapshot_does_not_count(hf_home, monkeypatch):
    monkeypatch.setattr(hub, "_has_huggingface_hub", lambda: False)
    cache = str(hf_home / "hub")
    put_snapshot(cache, "org/sharded", COMMIT_MAIN, TINY_GPT2_SHARDED, skip=("model-00002-of-00002.safetensors",))
    message = resolve_error("org/sharded", "init_from")
    assert message.startswith("init_from 'org/sharded': no such directory, and the Hub id org/sharded (revision main) is not in "
                              "the Hugging Face cache (")
    assert "lacks model-00002-of-00002.safetensors" in message
    put_snapshot(cache, "org/config-only", COMMIT_MAIN, TINY_GPT2, skip=("model.safetensors",))
    with pytest.raises(FileNotFoundError, match=r"lacks model\.safetensors \(or model\.safetensors\.index\.json\)"):
        hub.resolve_checkpoint("org/config-only")


def test_absent_id_says_to_run_lowbit_download(hf_home, monkeypatch):
    monkeypatch.setattr(hub, "_has_huggingface_hub", lambda: False)
    message = resolve_error("facebook/bart-base@v2", "teacher")
    assert message.startswith("teacher 'facebook/bart-base@v2': no such directory, and the Hub id facebook/bart-base "
                              "(revision v2) is not in the Hugging Face cache (no ")
    assert "huggingface_hub is not installed; run `npx lowbit download facebook/bart-base --revision v2`" in message


def test_offline_never_downloads(hf_home, monkeypatch):
    monkeypatch.setattr(hub, "_has_huggingface_hub", lambda: True)
    monkeypatch.setattr(hub, "_download", lambda *a: pytest.fail("downloaded while HF_HUB_OFFLINE=1"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"while HF_HUB_OFFLINE is set; run `npx lowbit download gpt2`"):
        hub.resolve_checkpoint("gpt2")
    snapshot = put_snapshot(str(hf_home / "hub"), "gpt2", COMMIT_MAIN, TINY_GPT2)
    assert hub.resolve_checkpoint("gpt2") == snapshot


def test_downloads_through_huggingface_hub_when_not_cached(hf_home, monkeypatch, tmp_path):
    """snapshot_download itself needs a network; here it is stood in for, to check what resolve_checkpoint asks
    of it and that it checks the result (a repo with pytorch_model.bin only is refused)."""
    calls = []
    cache = str(hf_home / "hub")

    def fake_download(repo_id, revision):
        calls.append((repo_id, revision))
        return put_snapshot(cache, repo_id, COMMIT_MAIN, TINY_GPT2 if repo_id == "gpt2" else str(tmp_path / "bin-only"))

    os.makedirs(tmp_path / "bin-only")
    shutil.copy(os.path.join(TINY_GPT2, "config.json"), tmp_path / "bin-only" / "config.json")
    monkeypatch.setattr(hub, "_has_huggingface_hub", lambda: True)
    monkeypatch.setattr(hub, "_download", fake_download)
    assert hub.resolve_checkpoint("gpt2").endswith(os.path.join("models--gpt2", "snapshots", COMMIT_MAIN))
    with pytest.raises(FileNotFoundError, match=r"the Hub repo org/old \(revision main\) has no model\.safetensors .*"
                                                r"not pytorch_model\.bin$"):
        hub.resolve_checkpoint("org/old")
    assert calls == [("gpt2", "main"), ("org/old", "main")]


@pytest.mark.parametrize("value", ["./no/such/dir/here", "/no/such/dir", "a--b", "org/na..me", "x/y/z", "gpt2@", "-a", "a."])
def test_neither_a_directory_nor_a_hub_id(value):
    with pytest.raises(FileNotFoundError, match=r"no such directory, and not a Hugging Face Hub id \(expected"):
        hub.resolve_checkpoint(value, "teacher")


def test_init_is_an_alias_of_init_from():
    assert config_argv(["--config", "c.json", "--init", "gpt2", "--lr=1"]) == ("c.json", ["--init_from=gpt2", "--lr=1"])
    assert config_argv(["--init=facebook/bart-base@v1"]) == (None, ["--init_from=facebook/bart-base@v1"])
    with pytest.raises(ValueError, match="--init needs a value"):
        config_argv(["--init"])
