"""BART's training loop on tiny models (CPU, seconds): denoising pretraining, fine-tuning and every QAT method
run and save what `lowbit export` reads; keep_best keeps the best evaluation; 2 gloo ranks keep identical
weights with the loss of one process on the same global batch."""

import json
import os
from dataclasses import asdict

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from lowbit_train.bart import load_bart, load_quantized_bart
from lowbit_train.train_bart import BART_METHODS, BartTrainConfig, train
from test_train import _free_port

V = 120


def tiny(root, **overrides) -> BartTrainConfig:
    cfg = BartTrainConfig(pretrain_dir=str(root / "pretrain"), task_dir=str(root / "lead"), tokenizer_dir=str(root / "none"),
                          out_dir=str(root / "run"), vocab_size=V, d_model=32, heads=2, ffn_dim=64, encoder_layers=2,
                          decoder_layers=2, max_position_embeddings=64, chunk_tokens=40, max_source_tokens=40, batch_size=8,
                          max_steps=6, warmup_steps=2, eval_interval=0, eval_examples=16, device="cpu", progress=False,
                          lr=3e-3, dropout=0.0)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bartdata")
    rng = np.random.default_rng(0)
    os.makedirs(root / "pretrain")
    os.makedirs(root / "lead")
    for split, n_docs in (("train", 60), ("valid", 8)):
        ids, starts = [], []
        for _ in range(n_docs):
            for _ in range(int(rng.integers(2, 6))):
                starts.append(len(ids))
                ids.extend(rng.integers(4, V - 1, size=int(rng.integers(3, 9))).tolist())
            ids.append(2)
        np.array(ids, dtype="<u2").tofile(root / "pretrain" / f"{split}.bin")
        np.array(starts, dtype="<u4").tofile(root / "pretrain" / f"{split}.sentences.bin")
    for split, n in (("train", 80), ("valid", 12), ("test", 12)):
        src, tgt = [], []
        for _ in range(n):
            s = rng.integers(4, V - 1, size=12).tolist()  # equal lengths: a DDP rank's mean is the global mean
            src += s + [2]
            tgt += sorted(s)[:4] + [2]  # a learnable "summary"
        np.array(src, dtype="<u2").tofile(root / "lead" / f"{split}.source.bin")
        np.array(tgt, dtype="<u2").tofile(root / "lead" / f"{split}.target.bin")
    train(tiny(root, method="pretrain", out_dir=str(root / "pre"), max_steps=8))
    train(tiny(root, method="finetune", init_from=str(root / "pre" / "model"), out_dir=str(root / "ft"), max_steps=10))
    return root


def test_pretrain_and_finetune_save_hf_checkpoints(data):
    for run in ("pre", "ft"):
        m = json.load(open(data / run / "metrics.json"))
        assert m["steps"] > 0 and np.isfinite(m["valid"]["nll"])
        config, _ = load_bart(str(data / run / "model"))
        assert config.d_model == 32
        gen = json.load(open(data / run / "model" / "generation_config.json"))
        assert gen["num_beams"] == 4 and gen["forced_bos_token_id"] == 0
    assert "test" in json.load(open(data / "ft" / "metrics.json"))


@pytest.mark.parametrize("method", [m for m in BART_METHODS if m not in ("pretrain", "finetune")])
def test_every_qat_method_trains_and_saves_a_quantized_checkpoint(data, method):
    result = train(tiny(data, method=method, teacher=str(data / "ft" / "model"), out_dir=str(data / method), max_steps=3,
                        weight_bits=2, embedding_bits=4))
    _, model, qc = load_quantized_bart(str(data / method / "model"))
    assert (qc["weight_bits"], qc["embedding_bits"], qc["activation_bits"], qc["method"]) == (2, 4, 8, method)
    assert result["steps"] == (0 if method.startswith("rtn") else 3)
    assert np.isfinite(result["test"]["nll"])


def test_keep_best_keeps_the_best_evaluation(data):
    r = train(tiny(data, method="finetune", init_from=str(data / "pre" / "model"), out_dir=str(data / "kb"), max_steps=6,
                   eval_interval=2, keep_best=True, lr=5e-2))  # a learning rate that makes later steps worse or better
    evals = [e["valid_nll"] for e in r["evals"]]
    assert len(evals) == 2
    best = min(evals + [r["last_valid"]["nll"]])
    assert r["valid"]["nll"] == pytest.approx(best, rel=1e-5)


def _ddp_worker(rank, world, port, cfg_dict, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    cfg = BartTrainConfig(**cfg_dict)
    cfg.out_dir = f"{cfg.out_dir}-rank{rank}"
    result = train(cfg)
    torch.distributed.destroy_process_group()
    torch.save({"history": result["history"], "weights": {k: v.detach() for k, v in result["student"].state_dict().items()}},
               f"{out}-{rank}.pt")


def test_ddp_two_ranks_match_one_process(data):
    cfg = tiny(data, method="quantbart", teacher=str(data / "ft" / "model"), out_dir=str(data / "ddp"), max_steps=3)
    mp.spawn(_ddp_worker, args=(2, _free_port(), asdict(cfg), str(data / "ddp-out")), nprocs=2, join=True)
    r0, r1 = torch.load(data / "ddp-out-0.pt"), torch.load(data / "ddp-out-1.pt")
    for k in r0["weights"]:
        assert torch.equal(r0["weights"][k], r1["weights"][k]), f"ranks differ at {k}"
    single = train(tiny(data, method="quantbart", teacher=str(data / "ft" / "model"), out_dir=str(data / "single"), max_steps=3))
    for a, b in zip(r0["history"], single["history"]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4), (a, b)
