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


def test_keep_best_patience_and_extra_tests(corpus):
    """keep_best ends with the best evaluation's weights; patience stops a run whose validation stopped improving;
    extra_tests scores more token files (the old test split, test_v1) at the end."""
    (corpus / "data" / "test.bin").rename(corpus / "data" / "test_v1.bin")
    np.arange(300, dtype="<u2").tofile(corpus / "data" / "test.bin")
    # lr 0.3 from step 2 on makes the model worse after its first evaluation: the best is the first.
    result = train(tiny(corpus, max_steps=40, warmup_steps=1, lr=0.3, min_lr=0.3, eval_interval=2, keep_best=True,
                        patience=3, extra_tests=("test_v1",)))
    evals = result["evals"]
    best = min(evals, key=lambda e: e["valid_perplexity"])
    assert result["best_eval"] == {"step": best["step"] + 1, "valid_perplexity": best["valid_perplexity"]}
    assert result["steps"] < 40, "patience did not stop the run"
    assert len(evals) == [e["step"] for e in evals].index(best["step"]) + 1 + 3  # 3 worse evaluations, then stop
    if result["last_valid"]["perplexity"] > best["valid_perplexity"]:
        assert result["kept"] == f"step {best['step'] + 1} (best validation)"
        assert result["valid"]["perplexity"] == pytest.approx(best["valid_perplexity"], rel=1e-6)
    assert result["test_v1"]["perplexity"] > 1 and result["test_v1"]["scored_tokens"] != result["test"]["scored_tokens"]
    metrics = json.load(open(corpus / "run" / "metrics.json"))
    assert metrics["test_v1"] == result["test_v1"] and metrics["kept"] == result["kept"]


def test_time_budget_lowers_max_steps(corpus, monkeypatch):
    """A fake clock that advances one second per training step: 1 step/s between the probe steps 10 and 40, so at
    step 40 (40 s in) a 100 s budget fits 40 + ⌊0.95 · 1 · 60⌋ = 97 steps."""
    import lowbit_train.train as train_module
    clock = {"now": 0.0}
    real_batch = train_module.global_batch

    def batch_and_tick(tokens, step, cfg):
        clock["now"] += 1.0
        return real_batch(tokens, step, cfg)

    monkeypatch.setattr(train_module, "global_batch", batch_and_tick)
    monkeypatch.setattr(train_module.time, "time", lambda: clock["now"])
    result = train(tiny(corpus, max_steps=10_000, time_budget_s=100))
    assert result["time_budget_steps"] == 97
    assert result["steps"] == 97 and result["config"]["max_steps"] == 97
