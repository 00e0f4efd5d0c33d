"""The training loop on tiny models (CPU, seconds): pretraining and QAT run and save, a resumed run equals
an uninterrupted one, a non-finite loss stops with the step, and 2 gloo ranks keep identical weights with
the loss of a single process on the same global batch."""

import json
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from lowbit_train.train import NonFiniteLoss, TrainConfig, train


def tiny(tmp_path, **overrides) -> TrainConfig:
    cfg = TrainConfig(data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "run"), n_layer=2, n_head=2, n_embd=32,
                      n_positions=64, dropout=0.0, block_size=16, batch_size=4, max_steps=6, warmup_steps=2,
                      eval_interval=0, eval_tokens=200, eval_context=32, eval_stride=16, ckpt_interval=0,
                      device="cpu", progress=False, lr=1e-3)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture()
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    os.makedirs(tmp_path / "data")
    for split, n in (("train", 4000), ("valid", 400), ("test", 400)):
        # A learnable stream: mostly a repeating pattern over 300 ids, some noise.
        base = np.tile(np.arange(300), n // 300 + 1)[:n]
        noise = rng.integers(0, 300, n)
        toks = np.where(rng.random(n) < 0.1, noise, base).astype("<u2")
        toks.tofile(tmp_path / "data" / f"{split}.bin")
    return tmp_path


def test_pretrain_then_quantgpt(corpus):
    teacher = train(tiny(corpus, out_dir=str(corpus / "teacher"), max_steps=30))
    assert teacher["history"][-1]["loss"] < teacher["history"][0]["loss"]
    assert os.path.exists(corpus / "teacher" / "model" / "config.json")
    student = train(tiny(corpus, method="quantgpt", teacher=str(corpus / "teacher" / "model"), out_dir=str(corpus / "qat")))
    assert student["test"]["perplexity"] > 1
    qconf = json.load(open(corpus / "qat" / "model" / "config.json"))["quantization_config"]
    assert qconf["weight_bits"] == 2 and qconf["method"] == "quantgpt"


def gammas(student) -> dict:
    return {name: float(h.weight_quantizer.gamma) for name, h in student.quantizable() if h.weight_quantizer is not None}


def test_gamma_init_and_quantizer_learning_rate(corpus):
    train(tiny(corpus, out_dir=str(corpus / "teacher"), max_steps=4))
    common = dict(method="logit-kd", teacher=str(corpus / "teacher" / "model"), max_steps=3, warmup_steps=0,
                  min_lr=1e-3, gamma_init="1.5")
    start = train(tiny(corpus, out_dir=str(corpus / "g0"), **dict(common, max_steps=0)))["student"]
    assert set(gammas(start).values()) == {1.5}
    moved = {}
    for scale in (1.0, 10.0):
        student = train(tiny(corpus, out_dir=str(corpus / f"g{scale}"), quant_lr_scale=scale, **common))["student"]
        moved[scale] = max(abs(g - 1.5) for g in gammas(student).values())
    # Adam moves a parameter by about lr per step, whatever its gradient's size: 3 steps at 1e-3 × scale.
    assert 1e-4 < moved[1.0] <= 3.1e-3
    assert 1e-3 < moved[10.0] <= 3.1e-2 and moved[10.0] > 3 * moved[1.0]
    with pytest.raises(ValueError, match="gamma_init"):
        train(tiny(corpus, out_dir=str(corpus / "bad"), **dict(common, gamma_init="large")))


def test_resume_equals_uninterrupted(corpus):
    train(tiny(corpus, out_dir=str(corpus / "teacher"), max_steps=10))
    common = dict(method="quantgpt", teacher=str(corpus / "teacher" / "model"), max_steps=8, ckpt_interval=4)
    full = train(tiny(corpus, out_dir=str(corpus / "full"), **common))
    # "Kill" a run after step 4 (its checkpoint is there), then resume it to step 8.
    train(tiny(corpus, out_dir=str(corpus / "killed"), stop_after=4, **common))
    resumed = train(tiny(corpus, out_dir=str(corpus / "killed"), resume=True, **common))
    assert resumed["steps"] == 4
    a = torch.load(corpus / "full" / "ckpt.pt")["model"]
    b = torch.load(corpus / "killed" / "ckpt.pt")["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert resumed["final_loss"] == pytest.approx(full["final_loss"], rel=0, abs=0)


def test_non_finite_loss_names_the_step(corpus):
    # A huge learning rate throws the weights to ~1e30 at the first update: step 1's loss is not finite.
    with pytest.raises(NonFiniteLoss, match=r"loss is (nan|inf) at step 1"):
        train(tiny(corpus, lr=1e30, min_lr=1e30, warmup_steps=0, grad_clip=0.0))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, cfg_dict, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    cfg = TrainConfig(**cfg_dict)
    cfg.out_dir = f"{cfg.out_dir}-rank{rank}"
    result = train(cfg)
    torch.distributed.destroy_process_group()
    weights = {k: v.detach().cpu() for k, v in result["student"].state_dict().items()}
    torch.save({"history": result["history"], "ckpt": weights}, f"{out}-{rank}.pt")


def test_ddp_two_ranks_match_one_process(corpus):
    train(tiny(corpus, out_dir=str(corpus / "teacher"), max_steps=10))
    cfg = tiny(corpus, method="quantgpt", teacher=str(corpus / "teacher" / "model"), out_dir=str(corpus / "ddp"),
               max_steps=4, ckpt_interval=4)
    from dataclasses import asdict
    mp.spawn(_ddp_worker, args=(2, _free_port(), asdict(cfg), str(corpus / "ddp-out")), nprocs=2, join=True)
    r0 = torch.load(corpus / "ddp-out-0.pt")
    r1 = torch.load(corpus / "ddp-out-1.pt")
    for k in r0["ckpt"]:
        assert torch.equal(r0["ckpt"][k], r1["ckpt"][k]), f"ranks differ at {k}"
    single = train(tiny(corpus, method="quantgpt", teacher=str(corpus / "teacher" / "model"), out_dir=str(corpus / "single"),
                        max_steps=4, ckpt_interval=4))
    for a, b in zip(r0["history"], single["history"]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4), (a, b)
