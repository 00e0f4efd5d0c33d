"""BART's training data: the token files scripts/build_summarization.ts writes, BART's denoising noise, and
padded seq2seq batches.

    docs = PretrainDocs.load("data/summarization/pretrain", "train")   # {split}.bin + {split}.sentences.bin
    src, tgt = docs.chunk(rng, max_tokens=400)                         # a run of whole sentences
    noised = noise(src, rng, NoiseConfig())                            # permuted sentences, spans → <mask>
    pairs = load_pairs("data/summarization/lead", "train")             # [(source ids, target ids)]
    batch = collate(pairs[:8])                                         # padded tensors, labels −100 at pads

Files (little-endian; ids in the BART layout of scripts/bart_vocab.ts, <s> 0, <pad> 1, </s> 2, <mask> last):
{split}.bin holds uint16 ids, each document (or example) followed by one </s> (2) as its separator;
{split}.sentences.bin holds uint32 offsets into {split}.bin where each sentence starts.

Noise (Lewis et al. 2020, §2.2, the setting BART-base was trained with): sentence permutation (the chunk's
sentences shuffled), then text infilling: span lengths drawn from Poisson(λ = 3) until they cover
mask_ratio of the tokens, each span replaced by a single <mask>; a zero-length span inserts a <mask>. Spans
that touch become one span (one <mask>). The target is the original chunk.
Batches are a pure function of (seed, step), as for GPT-2 (train.py), so runs are reproducible.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np
import torch

BOS, PAD, EOS = 0, 1, 2
IGNORE = -100  # labels at padding: cross_entropy's ignore_index


def _read(path: str, dtype: str) -> np.ndarray:
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: missing; build it with `npx tsx scripts/build_summarization.ts`")
    size = os.path.getsize(path)
    width = np.dtype(dtype).itemsize
    if size % width:
        raise ValueError(f"{path}: {size} bytes is not a whole number of {dtype} values")
    return np.fromfile(path, dtype=dtype)


def split_on_separator(ids: np.ndarray, path: str) -> List[np.ndarray]:
    """A separator-terminated uint16 file → one array per document/example (without the separator)."""
    if len(ids) and ids[-1] != EOS:
        raise ValueError(f"{path}: does not end with the separator id {EOS}: truncated?")
    ends = np.flatnonzero(ids == EOS)
    starts = np.concatenate([[0], ends[:-1] + 1])
    return [ids[s:e].astype(np.int64) for s, e in zip(starts, ends)]


def load_pairs(lead_dir: str, split: str, vocab_size: int = 1 << 16) -> List[Tuple[np.ndarray, np.ndarray]]:
    """[(source ids, target ids)] of one split of a summarization task; ids checked below vocab_size."""
    files = [os.path.join(lead_dir, f"{split}.{side}.bin") for side in ("source", "target")]
    src, tgt = (split_on_separator(_read(f, "<u2"), f) for f in files)
    if len(src) != len(tgt):
        raise ValueError(f"{files[0]} has {len(src)} examples but {files[1]} has {len(tgt)}")
    for f, seqs in zip(files, (src, tgt)):
        for i, s in enumerate(seqs):
            if len(s) == 0:
                raise ValueError(f"{f}: example {i} is empty")
            if int(s.max()) >= vocab_size:
                raise ValueError(f"{f}: example {i} has id {int(s.max())}, not below vocab_size {vocab_size}")
    return list(zip(src, tgt))


class PretrainDocs:
    """Documents as one id array with sentence starts; chunk() draws runs of whole sentences of one document."""

    def __init__(self, ids: np.ndarray, sentence_starts: np.ndarray, path: str = "<memory>"):
        if len(ids) and ids[-1] != EOS:
            raise ValueError(f"{path}: does not end with the separator id {EOS}: truncated?")
        starts = np.asarray(sentence_starts, dtype=np.int64)
        if len(starts) == 0 or (np.diff(starts) <= 0).any() or starts[0] < 0 or starts[-1] >= len(ids):
            raise ValueError(f"{path}: sentence offsets must be increasing and inside the {len(ids)} ids")
        seps = np.flatnonzero(ids == EOS)  # document ends
        if np.isin(starts, seps).any():
            raise ValueError(f"{path}: a sentence starts at a document separator")
        self.ids = ids.astype(np.int64)
        self.starts = starts
        next_start = np.append(starts[1:], len(ids))
        doc_end = seps[np.searchsorted(seps, starts)]  # the separator ending each sentence's document
        self.ends = np.minimum(next_start, doc_end)  # (n sentences,): exclusive end of each sentence
        self.doc = np.searchsorted(seps, starts)  # document index of each sentence

    @classmethod
    def load(cls, directory: str, split: str) -> "PretrainDocs":
        path = os.path.join(directory, f"{split}.bin")
        return cls(_read(path, "<u2"), _read(os.path.join(directory, f"{split}.sentences.bin"), "<u4"), path)

    def chunk(self, rng: np.random.Generator, max_tokens: int) -> List[np.ndarray]:
        """The sentences of a run starting at a random sentence, within one document, at most max_tokens
        in all (a first sentence longer than that is cut)."""
        i = int(rng.integers(len(self.starts)))
        out, total = [], 0
        j = i
        while j < len(self.starts) and self.doc[j] == self.doc[i]:
            sent = self.ids[self.starts[j]:self.ends[j]]
            if total + len(sent) > max_tokens:
                if not out:
                    out.append(sent[:max_tokens])
                break
            out.append(sent)
            total += len(sent)
            j += 1
        return out


@dataclass
class NoiseConfig:
    mask_id: int = 50260  # <mask> (scripts/bart_vocab.ts)
    mask_ratio: float = 0.3  # share of tokens inside masked spans
    poisson_lambda: float = 3.0  # span lengths ~ Poisson(λ)
    permute_sentences: bool = True


def noise(sentences: Sequence[np.ndarray], rng: np.random.Generator, cfg: NoiseConfig) -> Tuple[np.ndarray, np.ndarray]:
    """(noised encoder input, original target), both without <s>/</s>."""
    original = np.concatenate(sentences) if len(sentences) else np.zeros(0, dtype=np.int64)
    order = rng.permutation(len(sentences)) if cfg.permute_sentences else np.arange(len(sentences))
    permuted = np.concatenate([sentences[k] for k in order]) if len(sentences) else original
    n = len(permuted)
    to_mask = int(math.ceil(n * cfg.mask_ratio))
    masked = np.zeros(n, dtype=bool)
    inserts = np.zeros(n + 1, dtype=bool)  # a <mask> before position p (zero-length spans)
    covered = 0
    while covered < to_mask:
        length = min(int(rng.poisson(cfg.poisson_lambda)), to_mask - covered)
        start = int(rng.integers(n))
        if length == 0:
            inserts[start] = True
            covered += 0 if cfg.poisson_lambda > 0 else to_mask  # λ = 0 would never cover anything
            continue
        masked[start:start + length] = True
        covered += length
    out = []
    for p in range(n):
        if inserts[p]:
            out.append(cfg.mask_id)
        if masked[p]:
            if p == 0 or not masked[p - 1]:
                out.append(cfg.mask_id)
        else:
            out.append(int(permuted[p]))
    return np.asarray(out, dtype=np.int64), original


def collate(pairs: Sequence[Tuple[np.ndarray, np.ndarray]], max_source: int = 0) -> dict:
    """[(source, target)] → padded tensors, as HF BART trains: encoder <s> source </s>; labels <s> target </s>;
    decoder input = labels shifted right after decoder_start (</s>). max_source > 0 cuts sources to that many ids."""
    srcs = [np.concatenate([[BOS], s[:max_source] if max_source else s, [EOS]]) for s, _ in pairs]
    labels = [np.concatenate([[BOS], t, [EOS]]) for _, t in pairs]
    B, S, T = len(pairs), max(len(s) for s in srcs), max(len(t) for t in labels)
    src = torch.full((B, S), PAD, dtype=torch.long)
    src_mask = torch.zeros(B, S, dtype=torch.bool)
    dec_in = torch.full((B, T), PAD, dtype=torch.long)
    lab = torch.full((B, T), IGNORE, dtype=torch.long)
    for b, (s, t) in enumerate(zip(srcs, labels)):
        src[b, :len(s)] = torch.from_numpy(s)
        src_mask[b, :len(s)] = True
        lab[b, :len(t)] = torch.from_numpy(t)
        dec_in[b, 0] = EOS  # decoder_start_token_id
        dec_in[b, 1:len(t)] = torch.from_numpy(t[:-1])
    return {"src": src, "src_mask": src_mask, "dec_in": dec_in, "labels": lab}


def step_rng(seed: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, step])
