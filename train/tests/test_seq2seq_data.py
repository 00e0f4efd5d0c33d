"""BART's training data (seq2seq_data.py): token files, denoising noise, padded batches."""

import numpy as np
import pytest
import torch

from lowbit_train.seq2seq_data import (EOS, IGNORE, PAD, NoiseConfig, PretrainDocs, collate, load_pairs, noise,
                                       split_on_separator)

MASK = 99


def docs():
    # two documents: sentences [4 5 6] [7 8] | [9 10 11 12] [13]
    ids = np.array([4, 5, 6, 7, 8, 2, 9, 10, 11, 12, 13, 2], dtype=np.uint16)
    return PretrainDocs(ids, np.array([0, 3, 6, 10], dtype=np.uint32))


def test_chunks_stay_in_one_document_and_keep_whole_sentences():
    d = docs()
    seen = set()
    for seed in range(40):
        chunk = d.chunk(np.random.default_rng(seed), max_tokens=5)
        flat = tuple(np.concatenate(chunk).tolist())
        seen.add(flat)
        assert EOS not in flat
    assert seen == {(4, 5, 6, 7, 8), (7, 8), (9, 10, 11, 12, 13), (13,)}
    assert d.chunk(np.random.default_rng(0), max_tokens=2)[0].tolist() in ([4, 5], [7, 8], [9, 10], [13])  # cut when alone too long


def test_bad_sentence_offsets_are_refused():
    ids = np.array([4, 5, 2], dtype=np.uint16)
    with pytest.raises(ValueError, match="increasing"):
        PretrainDocs(ids, np.array([1, 0]))
    with pytest.raises(ValueError, match="separator"):
        PretrainDocs(ids, np.array([0, 2]))
    with pytest.raises(ValueError, match="truncated"):
        PretrainDocs(np.array([4, 5], dtype=np.uint16), np.array([0]))


def test_noise_masks_about_30_percent_in_spans_and_permutes_sentences():
    rng = np.random.default_rng(1)
    sentences = [np.arange(10 + 20 * i, 30 + 20 * i) for i in range(10)]  # 200 distinct tokens
    cfg = NoiseConfig(mask_id=MASK, mask_ratio=0.3, poisson_lambda=3.0)
    kept_share, masks = [], []
    for _ in range(50):
        noised, target = noise(sentences, rng, cfg)
        assert target.tolist() == list(range(10, 210))  # the target is the original order
        kept = noised[noised != MASK]
        kept_share.append(len(kept) / 200)
        masks.append(int((noised == MASK).sum()))
    # Spans may overlap (then fewer tokens are masked), never more than 30%.
    assert 0.70 <= np.mean(kept_share) <= 0.80
    # About 60 masked tokens in spans of mean length ~3: far fewer <mask> than masked tokens.
    assert 8 <= np.mean(masks) <= 30


def test_permutation_only_and_no_noise():
    rng = np.random.default_rng(3)
    sentences = [np.array([10, 11]), np.array([12]), np.array([13, 14, 15])]
    noised, target = noise(sentences, rng, NoiseConfig(mask_id=MASK, mask_ratio=0.0))
    assert sorted(noised.tolist()) == target.tolist() == [10, 11, 12, 13, 14, 15]
    orders = {tuple(noise(sentences, np.random.default_rng(s), NoiseConfig(mask_id=MASK, mask_ratio=0.0))[0].tolist()) for s in range(30)}
    assert len(orders) == 6  # every order of three sentences shows up
    same, _ = noise(sentences, rng, NoiseConfig(mask_id=MASK, mask_ratio=0.0, permute_sentences=False))
    assert same.tolist() == [10, 11, 12, 13, 14, 15]


def test_collate_pads_as_hf_bart_trains():
    pairs = [(np.array([10, 11, 12]), np.array([20])), (np.array([13]), np.array([21, 22, 23]))]
    b = collate(pairs)
    assert b["src"].tolist() == [[0, 10, 11, 12, 2], [0, 13, 2, PAD, PAD]]
    assert b["src_mask"].tolist() == [[True] * 5, [True, True, True, False, False]]
    assert b["labels"].tolist() == [[0, 20, 2, IGNORE, IGNORE], [0, 21, 22, 23, 2]]
    assert b["dec_in"].tolist() == [[2, 0, 20, PAD, PAD], [2, 0, 21, 22, 23]]
    assert collate(pairs, max_source=2)["src"][0].tolist() == [0, 10, 11, 2]


def test_pairs_files(tmp_path):
    np.array([10, 11, 2, 12, 2], dtype="<u2").tofile(tmp_path / "train.source.bin")
    np.array([20, 2, 21, 22, 2], dtype="<u2").tofile(tmp_path / "train.target.bin")
    pairs = load_pairs(str(tmp_path), "train")
    assert [(s.tolist(), t.tolist()) for s, t in pairs] == [([10, 11], [20]), ([12], [21, 22])]
    with pytest.raises(ValueError, match="not below vocab_size 21"):
        load_pairs(str(tmp_path), "train", vocab_size=21)
    np.array([20, 2], dtype="<u2").tofile(tmp_path / "train.target.bin")
    with pytest.raises(ValueError, match="has 2 examples but .* has 1"):
        load_pairs(str(tmp_path), "train")
    with pytest.raises(FileNotFoundError, match="build_summarization"):
        load_pairs(str(tmp_path), "valid")
    (tmp_path / "odd.bin").write_bytes(b"\x01")
    with pytest.raises(ValueError, match="truncated"):
        split_on_separator(np.array([4, 5], dtype="<u2"), "x.bin")
