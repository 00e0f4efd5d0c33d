"""BART's training loop: denoising pretraining, fine-tuning on a summarization task, and quantization-aware
training (QuantBART and its baselines), single process or under torchrun with DistributedDataParallel.

    python3 -m lowbit_train.train_bart --config train/configs/bart_pretrain.json [--key=value ...]
    torchrun --nproc_per_node=N -m lowbit_train.train_bart --config ...

Methods: "pretrain" (BART's denoising objective on the corpus documents: seq2seq_data.noise), "finetune"
(cross-entropy on the task's targets, from init_from) and the QAT methods of train.py's METHODS under the
same names, QuantGPT's called "quantbart" here: weight quantizers on every linear and on `shared`, per-token
int8 inputs, logit distillation on the decoder's outputs and token-level contrastive distillation on the
decoder's last hidden states, as the paper does for BART. Evaluation is teacher-forced: the mean negative
log-likelihood of the targets (valid, test). Summaries and ROUGE come from summarize_hf.py and the runtime.
Batches are a pure function of (seed, step), so an N-rank run equals a 1-rank run on the same global batch.
Not here (unlike train.py): --resume; runs are minutes long and restart from scratch.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from .bart import Bart, BartConfig, load_bart, write_generation_config
from .distill import ContrastiveDistillation, logit_distillation
from .hub import resolve_checkpoint
from .model import quantize_model, save_hf, save_quantized
from .seq2seq_data import IGNORE, NoiseConfig, PretrainDocs, collate, load_pairs, noise, step_rng
from .train import (METHODS, BestEval, NonFiniteLoss, TimeBudget, _agree, _number, lr_at, make_optimizer, optimizer_step,
                    rank_and_world, run_command_line)

try:
    from tqdm import tqdm
except ImportError:  # pragma: no cover
    tqdm = None

BART_METHODS = {"pretrain": METHODS["pretrain"], "finetune": METHODS["pretrain"], "quantbart": METHODS["quantgpt"],
                "quantbart-inbatch": METHODS["quantgpt-inbatch"],
                "quantbart-no-dynamic-scaling": METHODS["quantgpt-no-dynamic-scaling"],
                **{m: METHODS[m] for m in ("logit-kd", "pact", "lsq", "rtn-maxabs", "rtn-mse")}}

# Decoding defaults written beside every saved model (generation_config.json); summarize_hf.py's tuning on
# valid replaces the search settings. forced_bos: the targets start with <s>, as BART-base's do.
GENERATION_DEFAULTS = {"decoder_start_token_id": 2, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1,
                       "forced_bos_token_id": 0, "forced_eos_token_id": 2, "num_beams": 4, "early_stopping": True,
                       "length_penalty": 1.0, "no_repeat_ngram_size": 3, "min_length": 0, "max_length": 64}


@dataclass
class BartTrainConfig:
    method: str = "pretrain"  # one of BART_METHODS
    pretrain_dir: str = "data/summarization/pretrain"  # {train,valid}.bin + .sentences.bin (pretrain)
    task_dir: str = "data/summarization/lead"  # {train,valid,test}.{source,target}.bin (finetune, QAT)
    tokenizer_dir: str = "data/summarization/tokenizer"  # vocab.json + merges.txt, copied beside every saved model
    out_dir: str = "runs/bart-teacher"
    teacher: str = "runs/bart-finetune/model"  # the full-precision teacher (QAT): a directory or a Hub id
    init_from: str = ""  # finetune: the pretrained model (required); QAT: the student's start ("" = the teacher);
    # both a directory or a Hub id "org/name[@revision]" (hub.py); --init is an alias of --init_from
    # model shape, when pretraining from scratch
    vocab_size: int = 50261
    d_model: int = 384
    encoder_layers: int = 6
    decoder_layers: int = 6
    heads: int = 6
    ffn_dim: int = 1536
    max_position_embeddings: int = 416
    dropout: float = 0.1
    # denoising (pretrain)
    chunk_tokens: int = 400  # longest run of sentences a pretraining example holds
    mask_ratio: float = 0.3
    poisson_lambda: float = 3.0
    permute_sentences: bool = True
    # task
    max_source_tokens: int = 400  # sources are cut to this many ids (the builder already caps them)
    label_smoothing: float = 0.0  # finetune's cross-entropy
    # quantization (W-E-A)
    weight_bits: int = 2
    embedding_bits: int = 2
    activation_bits: int = 8
    gamma_init: str = "auto"
    group_size: int = 0
    quant_lr_scale: float = 1.0
    # distillation
    lam: float = 0.1
    tau: float = 0.1
    bank_momentum: float = 0.9
    proj_dim: int = 0
    kd_temperature: float = 1.0
    # optimisation
    batch_size: int = 64  # global: examples per step over all ranks
    lr: float = 5e-4
    min_lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_steps: int = 100
    max_steps: int = 2000
    time_budget_s: float = 0.0  # > 0: after BUDGET_PROBE_STEPS, lower max_steps to end within this many seconds
    grad_clip: float = 1.0
    seed: int = 1337
    # evaluation
    eval_interval: int = 500  # 0: only at the end
    eval_examples: int = 512  # valid examples (or noised valid chunks) per evaluation; 0: all
    keep_best: bool = False
    patience: int = 0
    device: str = "auto"
    amp: bool = True  # bf16 autocast on CUDA (evaluation stays fp32)
    save_dtype: str = "float16"  # the saved HF checkpoint (pretrain, finetune)
    progress: bool = True


class _Task:
    """The step → batch function and the fixed evaluation sets of one method."""

    def __init__(self, cfg: BartTrainConfig, vocab_size: int):
        self.cfg = cfg
        self.noise_cfg = NoiseConfig(mask_id=vocab_size - 1, mask_ratio=cfg.mask_ratio, poisson_lambda=cfg.poisson_lambda,
                                     permute_sentences=cfg.permute_sentences)
        if cfg.method == "pretrain":
            self.train_docs = PretrainDocs.load(cfg.pretrain_dir, "train")
            valid = PretrainDocs.load(cfg.pretrain_dir, "valid")
            rng = np.random.default_rng([cfg.seed, 1 << 30])  # the same noised chunks at every evaluation
            self.evals = {"valid": [self._noised(valid, rng) for _ in range(cfg.eval_examples or 512)]}
        else:
            self.train_pairs = load_pairs(cfg.task_dir, "train", vocab_size)
            self.evals = {split: load_pairs(cfg.task_dir, split, vocab_size) for split in ("valid", "test")}

    def _noised(self, docs: PretrainDocs, rng: np.random.Generator):
        noised, target = noise(docs.chunk(rng, self.cfg.chunk_tokens), rng, self.noise_cfg)
        room = self.cfg.max_position_embeddings - 2  # <s> … </s>; zero-length spans can lengthen the input a little
        return noised[:room], target[:room]

    def batch(self, step: int) -> dict:
        rng = step_rng(self.cfg.seed, step)
        if self.cfg.method == "pretrain":
            pairs = [self._noised(self.train_docs, rng) for _ in range(self.cfg.batch_size)]
        else:
            pairs = [self.train_pairs[i] for i in rng.integers(len(self.train_pairs), size=self.cfg.batch_size)]
        return collate(pairs, self.cfg.max_source_tokens)


@torch.no_grad()
def target_nll(model: Bart, pairs, device: str, max_examples: int = 0, batch: int = 32, max_source: int = 0) -> dict:
    """Teacher-forced mean NLL per target token (the labels <s> target </s>, as trained), in fp32."""
    model.eval()
    pairs = pairs[:max_examples] if max_examples else pairs
    total, count = 0.0, 0
    for i in range(0, len(pairs), batch):
        b = {k: v.to(device) for k, v in collate(pairs[i:i + batch], max_source).items()}
        logits = model(b["src"], b["src_mask"], b["dec_in"]).float()  # (B, T, V)
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b["labels"].reshape(-1),
                                       ignore_index=IGNORE, reduction="sum"))
        count += int((b["labels"] != IGNORE).sum())
    model.train()
    return {"nll": total / count, "perplexity": math.exp(total / count), "tokens": count, "examples": len(pairs)}


def build_models(cfg: BartTrainConfig, device: str):
    quantizer, kd, contrast, _ = BART_METHODS[cfg.method]
    if cfg.method == "pretrain":
        config = BartConfig(vocab_size=cfg.vocab_size, d_model=cfg.d_model, encoder_layers=cfg.encoder_layers,
                            decoder_layers=cfg.decoder_layers, encoder_attention_heads=cfg.heads, decoder_attention_heads=cfg.heads,
                            encoder_ffn_dim=cfg.ffn_dim, decoder_ffn_dim=cfg.ffn_dim,
                            max_position_embeddings=cfg.max_position_embeddings, dropout=cfg.dropout)
        torch.manual_seed(cfg.seed)
        return config, Bart(config).to(device), None
    if cfg.method == "finetune" and not cfg.init_from:
        raise ValueError("finetune needs init_from: the pretrained model's directory")
    start = resolve_checkpoint(cfg.init_from, "init_from") if cfg.init_from else resolve_checkpoint(cfg.teacher, "teacher")
    config, student = load_bart(start)  # a directory, or a Hub id's snapshot in the Hugging Face cache (hub.py)
    student.config.dropout = cfg.dropout
    for m in student.modules():  # dropout is the run's choice, not the checkpoint's
        if isinstance(m, torch.nn.Dropout):
            m.p = cfg.dropout
    teacher = None
    if kd or contrast:
        _, teacher = load_bart(resolve_checkpoint(cfg.teacher, "teacher"))
        teacher.to(device).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    student.to(device)
    if quantizer is not None:
        gamma_init = cfg.gamma_init if cfg.gamma_init in ("auto", "maxabs", "mse") else _number(cfg.gamma_init, "gamma_init")
        quantize_model(student, quantizer, cfg.weight_bits, cfg.embedding_bits, cfg.activation_bits, gamma_init, cfg.group_size)
    return config, student, teacher


def train(cfg: BartTrainConfig) -> dict:
    t_setup = time.time()
    if cfg.method not in BART_METHODS:
        raise ValueError(f"unknown method {cfg.method!r}; one of {', '.join(BART_METHODS)}")
    rank, world, local_rank = rank_and_world()
    device = (f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {world} ranks")
    os.makedirs(cfg.out_dir, exist_ok=True)
    quantizer, kd, contrast_mode, hard_labels = BART_METHODS[cfg.method]
    config, student, teacher = build_models(cfg, device)
    task = _Task(cfg, config.vocab_size)
    contrast = None
    if contrast_mode is not None:
        contrast = ContrastiveDistillation(config.vocab_size, config.d_model, contrast_mode, cfg.tau, cfg.bank_momentum,
                                           cfg.proj_dim).to(device)
    trains = cfg.method not in ("rtn-maxabs", "rtn-mse")
    params, optimizer = make_optimizer(student, contrast, cfg)
    model = student
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(student, device_ids=[local_rank] if device.startswith("cuda") else None)
    use_amp = cfg.amp and device.startswith("cuda")
    history, t_start, tokens_seen = [], time.time(), 0
    best = BestEval(cfg.keep_best, cfg.patience)
    budget = TimeBudget(cfg, t_start, world, device)
    per_rank = cfg.batch_size // world
    steps = range(cfg.max_steps if trains else 0)
    bar = tqdm(steps, disable=not (cfg.progress and tqdm and rank == 0), desc=cfg.method) if tqdm else steps
    for step in bar:
        full = task.batch(step)
        b = {k: v[rank * per_rank:(rank + 1) * per_rank].to(device) for k, v in full.items()}
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg) * group["lr_scale"]
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else contextlib.nullcontext()
        real = b["labels"] != IGNORE  # (b, T): target positions
        with amp:
            logits, hidden = model(b["src"], b["src_mask"], b["dec_in"], return_hidden=True)  # (b, T, V), (b, T, d)
            loss = torch.zeros((), device=device)
            if hard_labels:
                loss = loss + F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), b["labels"].reshape(-1),
                                              ignore_index=IGNORE, label_smoothing=cfg.label_smoothing)
            if teacher is not None:
                with torch.no_grad():
                    t_logits, t_hidden = teacher(b["src"], b["src_mask"], b["dec_in"], return_hidden=True)
                if kd:
                    loss = loss + logit_distillation(logits[real][None], t_logits[real][None], cfg.kd_temperature)
                if contrast is not None:
                    keys = contrast.teacher_keys(t_hidden)  # (b, T, D)
                    if contrast.bank is not None:
                        ids, reps = b["dec_in"][real], keys.detach()[real]
                        if world > 1:  # every rank updates its bank from the whole global batch (ragged: pad by hand)
                            ids, reps = _gather_ragged(ids, reps, world)
                        contrast.bank.update(ids, reps)
                    loss = loss + cfg.lam * contrast(hidden, keys, b["dec_in"], real)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"loss is {float(loss)} at step {step}: stopping ({cfg.method}, lr {lr_at(step, cfg):.2e})")
        mean_loss = optimizer_step(loss, params, optimizer, contrast, cfg.grad_clip, world)
        tokens_seen += int(full["src_mask"].sum()) + int((full["labels"] != IGNORE).sum())
        history.append({"step": step, "loss": mean_loss})
        if tqdm and hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{mean_loss:.4f}", tok_s=f"{tokens_seen / max(1e-9, time.time() - t_start):,.0f}")
        done = step + 1
        budget.step_done(done, done)
        if cfg.eval_interval and done % cfg.eval_interval == 0 and done < cfg.max_steps:
            stop = 0
            if rank == 0:
                nll = target_nll(student, task.evals["valid"], device, cfg.eval_examples, max_source=cfg.max_source_tokens)["nll"]
                history[-1]["valid_nll"] = nll
                print(f"step {done}: valid nll {nll:.4f}", file=sys.stderr, flush=True)
                stop = int(best.update(nll, done, student))
            if _agree(stop, world, device):
                print(f"step {done}: no better valid nll in {cfg.patience} evaluations; stopping", file=sys.stderr, flush=True)
                break
        if done >= cfg.max_steps:
            break
    train_seconds = time.time() - t_start
    result = {"config": asdict(cfg), "world_size": world, "steps": len(history), "train_seconds": train_seconds,
              "tokens_per_s": tokens_seen / train_seconds if tokens_seen else 0.0, "setup_seconds": t_start - t_setup,
              "final_loss": history[-1]["loss"] if history else None, "history": history[-50:],
              "evals": [h for h in history if "valid_nll" in h], "time_budget_steps": budget.steps}
    if rank == 0:
        if cfg.keep_best and best.state is not None:
            last = target_nll(student, task.evals["valid"], device, cfg.eval_examples, max_source=cfg.max_source_tokens)
            result["last_valid"] = {"step": len(history), **last}
            if best.value < last["nll"]:
                student.load_state_dict(best.state)
                result["kept"] = f"step {best.step} (best validation)"
        result.setdefault("kept", "last step")
        t_eval = time.time()
        for split, pairs in task.evals.items():
            result[split] = target_nll(student, pairs, device, 0, max_source=cfg.max_source_tokens)
        result["eval_seconds"] = time.time() - t_eval
        model_dir = os.path.join(cfg.out_dir, "model")
        tokenizer_dir = cfg.tokenizer_dir if os.path.isdir(cfg.tokenizer_dir) else None
        if quantizer is None:
            save_hf(student, model_dir, dtype=getattr(torch, cfg.save_dtype), tokenizer_dir=tokenizer_dir)
        else:
            save_quantized(student, model_dir, {"method": cfg.method}, tokenizer_dir=tokenizer_dir)
        write_generation_config(model_dir, GENERATION_DEFAULTS)
        tmp = os.path.join(cfg.out_dir, "metrics.json.tmp")
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
        os.replace(tmp, os.path.join(cfg.out_dir, "metrics.json"))
        print(json.dumps({k: result[k] for k in ("setup_seconds", "steps", "train_seconds", "tokens_per_s", "final_loss")} |
                         {f"{s}_nll": result[s]["nll"] for s in task.evals}), flush=True)
    result["student"] = student
    return result


def _gather_ragged(ids: torch.Tensor, reps: torch.Tensor, world: int):
    """all_gather of (N_r,) ids and (N_r, D) reps whose N_r differs by rank."""
    n = torch.tensor([ids.numel()], device=ids.device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    most = int(max(int(s) for s in sizes))
    pid = torch.zeros(most, dtype=ids.dtype, device=ids.device)
    prep = torch.zeros(most, reps.shape[1], dtype=reps.dtype, device=reps.device)
    pid[:len(ids)], prep[:len(ids)] = ids, reps
    all_ids = [torch.empty_like(pid) for _ in range(world)]
    all_reps = [torch.empty_like(prep) for _ in range(world)]
    dist.all_gather(all_ids, pid)
    dist.all_gather(all_reps, prep)
    return (torch.cat([t[:int(s)] for t, s in zip(all_ids, sizes)]), torch.cat([t[:int(s)] for t, s in zip(all_reps, sizes)]))


def main(argv: list[str]) -> None:
    run_command_line(BartTrainConfig, train, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
