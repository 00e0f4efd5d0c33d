"""Checkpoint arguments (teacher, init_from) as directories or Hugging Face Hub ids, for the training stage.

    resolve_checkpoint("runs/teacher/model")          → "runs/teacher/model"              (a directory: as it is)
    resolve_checkpoint("gpt2")                        → "~/.cache/huggingface/hub/models--gpt2/snapshots/<commit>"
    resolve_checkpoint("facebook/bart-base@v1.0")     → the snapshot of revision v1.0 ("id@revision"; default main)

A Hub id is looked up in the Hugging Face cache that huggingface_hub, transformers and `lowbit download` share
($HF_HUB_CACHE, default $HF_HOME/hub, HF_HOME default ~/.cache/huggingface): refs/<revision> names the commit,
snapshots/<commit>/ holds the files. A snapshot counts only when config.json and every weight file are there.
Not found there: huggingface_hub's snapshot_download fetches the same files when it is installed (it honours
HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE and resumes partial downloads itself); else one error says to run
`npx lowbit download <id>` first. This file is not a downloader of its own: the GPU machine has
huggingface_hub but no network, CI has neither, and the Node CLI does the downloading everywhere else.
"""

from __future__ import annotations

import json
import os
import re
from typing import List, Optional, Tuple

# The files a checkpoint needs or may use; the same list as src/hub/ (the Node downloader).
REQUIRED_FILES = ("config.json",)
WEIGHT_FILE, WEIGHT_INDEX = "model.safetensors", "model.safetensors.index.json"
OPTIONAL_FILES = ("generation_config.json", "vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                  "special_tokens_map.json")

# huggingface_hub's validate_repo_id: [org/]name, each part word characters, '-' and '.', starting and ending with a
# word character; neither '--' nor '..'; at most 96 characters; not ending in ".git" (the same rule as src/hub/).
_REPO_ID = re.compile(r"^(?:\w(?:[\w.-]*\w)?/)?\w(?:[\w.-]*\w)?$", re.ASCII)
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_TRUE = {"1", "ON", "YES", "TRUE"}  # huggingface_hub's truthy environment values


def hub_cache_dir() -> str:
    """$HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub; HF_HOME defaults to
    $XDG_CACHE_HOME/huggingface, then ~/.cache/huggingface (huggingface_hub.constants' order)."""
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    default = os.path.join(os.path.expanduser(home), "hub")
    return os.path.expanduser(os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or default)


def is_hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE


def parse_hub_ref(value: str) -> Optional[Tuple[str, str]]:
    """(repo id, revision) of "org/name" or "org/name@revision", or None when value is not a Hub id."""
    repo_id, _, revision = value.partition("@")
    if not _REPO_ID.fullmatch(repo_id) or "--" in repo_id or ".." in repo_id or len(repo_id) > 96 or repo_id.endswith(".git"):
        return None
    if "@" in value and (not revision or any(c.isspace() for c in revision) or ".." in revision
                         or revision.startswith("/") or revision.endswith("/")):
        return None
    return repo_id, revision or "main"


def repo_cache_dir(repo_id: str, cache_dir: Optional[str] = None) -> str:
    """<cache>/models--org--name, as huggingface_hub names a model repo's folder."""
    return os.path.join(cache_dir or hub_cache_dir(), "models--" + repo_id.replace("/", "--"))


def missing_files(snapshot: str) -> List[str]:
    """The files a snapshot folder lacks to be a checkpoint: config.json, and model.safetensors or the index
    with every shard it names. [] means complete. Optional files (tokenizer, generation config) never count."""
    missing = [name for name in REQUIRED_FILES if not os.path.isfile(os.path.join(snapshot, name))]
    index = os.path.join(snapshot, WEIGHT_INDEX)
    if os.path.isfile(index):
        try:
            with open(index, encoding="utf-8") as f:
                weight_map = json.load(f).get("weight_map")
        except (OSError, ValueError):
            weight_map = None
        if not isinstance(weight_map, dict):
            return missing + [f"{WEIGHT_INDEX} (unreadable, or no weight_map)"]
        missing += [name for name in sorted(set(map(str, weight_map.values())))
                    if not os.path.isfile(os.path.join(snapshot, name))]
    elif not os.path.isfile(os.path.join(snapshot, WEIGHT_FILE)):
        missing.append(f"{WEIGHT_FILE} (or {WEIGHT_INDEX})")
    return missing


def cached_snapshot(repo_id: str, revision: str = "main", cache_dir: Optional[str] = None) -> Tuple[Optional[str], str]:
    """(the complete snapshot folder or None, what was looked at and what it lacks: for an error message)."""
    repo_dir = repo_cache_dir(repo_id, cache_dir)
    if _COMMIT.match(revision):
        commit = revision
    else:
        ref = os.path.join(repo_dir, "refs", revision)  # a revision such as refs/pr/1 is a nested path, as the Hub's
        if not os.path.isfile(ref):
            return None, f"no {ref}"
        with open(ref, encoding="utf-8") as f:
            commit = f.read().strip()
        if not _COMMIT.match(commit):
            return None, f"{ref} holds {commit[:60]!r}, not a commit hash"
    snapshot = os.path.join(repo_dir, "snapshots", commit)
    if not os.path.isdir(snapshot):
        return None, f"no {snapshot}"
    missing = missing_files(snapshot)
    if missing:
        return None, f"{snapshot} lacks {', '.join(missing)}"
    return snapshot, snapshot


def _download(repo_id: str, revision: str) -> str:
    """huggingface_hub's snapshot_download of the checkpoint files: first config, index and the single-file weights
    and tokenizer (absent patterns are fine), then exactly the shards the index names."""
    from huggingface_hub import snapshot_download  # the caller checked that it imports

    patterns = list(REQUIRED_FILES) + [WEIGHT_FILE, WEIGHT_INDEX] + list(OPTIONAL_FILES)
    snapshot = snapshot_download(repo_id, revision=revision, allow_patterns=patterns)
    index = os.path.join(snapshot, WEIGHT_INDEX)
    if os.path.isfile(index):
        with open(index, encoding="utf-8") as f:
            shards = sorted(set(map(str, (json.load(f).get("weight_map") or {}).values())))
        if shards:
            snapshot = snapshot_download(repo_id, revision=revision, allow_patterns=shards)
    return snapshot


def _has_huggingface_hub() -> bool:
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_checkpoint(value: str, what: str = "checkpoint") -> str:
    """A local directory for `value`: the directory itself, or a Hub id's snapshot (cached, else downloaded by
    huggingface_hub). Raises FileNotFoundError (one line naming `what`, the value and the way out) otherwise."""
    if os.path.isdir(value):
        return value
    ref = parse_hub_ref(value)
    if ref is None:
        raise FileNotFoundError(f"{what} {value!r}: no such directory, and not a Hugging Face Hub id "
                                f"(expected a checkpoint directory, or org/name[@revision] such as gpt2 or facebook/bart-base)")
    repo_id, revision = ref
    snapshot, looked_at = cached_snapshot(repo_id, revision)
    if snapshot is not None:
        return snapshot
    if not is_hub_offline() and _has_huggingface_hub():
        snapshot = _download(repo_id, revision)
        missing = missing_files(snapshot)
        if missing:
            raise FileNotFoundError(f"{what} {value!r}: the Hub repo {repo_id} (revision {revision}) has no "
                                    f"{', '.join(missing)}; lowbit reads safetensors weights only, not pytorch_model.bin")
        return snapshot
    why = "HF_HUB_OFFLINE is set" if is_hub_offline() else "huggingface_hub is not installed"
    command = f"npx lowbit download {repo_id}" + ("" if revision == "main" else f" --revision {revision}")
    raise FileNotFoundError(f"{what} {value!r}: no such directory, and the Hub id {repo_id} (revision {revision}) is not "
                            f"in the Hugging Face cache ({looked_at}) while {why}; run `{command}` on a machine with "
                            f"network first and carry $HF_HUB_CACHE (or pass a directory)")
