"""The training loop: teacher pretraining and quantization-aware training (QuantGPT and its baselines),
single process or under torchrun with DistributedDataParallel, with atomic checkpoints and --resume.

    python3 -m lowbit_train.train --config train/configs/teacher.json [--key=value ...]
    torchrun --nproc_per_node=N -m lowbit_train.train --config ... (rank and world size from torchrun's env)

Batches are a pure function of (seed, step): step s draws the same global batch of windows whatever the
number of ranks (each rank takes its slice) and whether the run was resumed, which is what makes a resumed
run equal an uninterrupted one and an N-rank run equal a 1-rank run on the same global batch.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from .config import load_config
from .distill import ContrastiveDistillation, logit_distillation
from .hub import resolve_checkpoint
from .model import GPT2, GPT2Config, load_hf, quantize_model, save_hf, save_quantized
from .quant import WeightQuantizer

try:  # progress bars when tqdm is there (the GPU machine has it; Debian's CI image may not)
    from tqdm import tqdm
except ImportError:  # pragma: no cover
    tqdm = None


# Methods: how the student's weights are quantized and which losses train it.
METHODS = {
    # name: (weight quantizer, logit distillation, contrastive mode or None, hard-label cross-entropy)
    "pretrain": (None, False, None, True),
    "quantgpt": ("quantgpt", True, "bank", False),
    "quantgpt-inbatch": ("quantgpt", True, "inbatch", False),
    "logit-kd": ("quantgpt", True, None, False),  # QuantGPT without the contrastive term
    "quantgpt-no-dynamic-scaling": ("pact", True, "bank", False),  # learned clip α instead of γ·mean|w|
    "pact": ("pact", True, None, False),
    "lsq": ("lsq", True, None, False),
    "rtn-maxabs": ("rtn-maxabs", False, None, False),  # no training: evaluated as quantized
    "rtn-mse": ("rtn-mse", False, None, False),
}


@dataclass
class TrainConfig:
    method: str = "pretrain"  # one of METHODS
    data_dir: str = "data/corpus"  # train.bin / valid.bin / test.bin of uint16 token ids
    out_dir: str = "runs/teacher"  # checkpoints, metrics.json, the exported model
    teacher: str = "models/teacher"  # HF checkpoint of the full-precision teacher (QAT only): a directory or a Hub id
    init_from: str = ""  # student start for QAT (a directory or a Hub id, "org/name[@revision]"); "" = the teacher
    # model shape, when pretraining from scratch
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    n_positions: int = 512
    dropout: float = 0.1
    # quantization (W-E-A)
    weight_bits: int = 2
    embedding_bits: int = 2
    activation_bits: int = 8
    gamma_init: str = "auto"  # QuantGPT's γ start: "auto", "maxabs", "mse" or a number (quant.DynamicScaleQuantizer)
    group_size: int = 0  # 0: one scale per matrix (the paper's); 32/64/128/256: one per G input features (quantgpt only)
    quant_lr_scale: float = 1.0  # learning rate of the quantizers' own parameters (γ, α, s) ÷ the weights' lr
    # distillation
    lam: float = 0.1  # weight λ of the contrastive term
    tau: float = 0.1  # cosine-similarity temperature τ
    bank_momentum: float = 0.9  # memory-bank momentum
    proj_dim: int = 0  # projection head width (0: none)
    kd_temperature: float = 1.0  # logit-distillation temperature
    # optimisation
    block_size: int = 256  # tokens per training window
    batch_size: int = 32  # global batch (windows per step, over all ranks)
    lr: float = 6e-4
    min_lr: float = 6e-5
    weight_decay: float = 0.1
    warmup_steps: int = 100
    max_steps: int = 2000
    time_budget_s: float = 0.0  # > 0: after BUDGET_PROBE_STEPS, lower max_steps so training ends within this many seconds
    grad_clip: float = 1.0
    seed: int = 1337
    # evaluation and checkpoints
    eval_interval: int = 500  # steps between validation evaluations (0: only at the end)
    eval_tokens: int = 200_000  # tokens of the split scored by each evaluation (0: all)
    test_tokens: int = 0  # tokens of the test split scored at the end (0: all)
    extra_tests: tuple[str, ...] = ()  # more token files in data_dir scored at the end, e.g. test_v1 (the old test split)
    keep_best: bool = False  # end with the weights of the best validation evaluation, not the last step's
    patience: int = 0  # stop after this many evaluations without a better validation perplexity (0: never)
    eval_context: int = 256  # sliding-window perplexity: window and stride (the runtime uses the same)
    eval_stride: int = 256
    ckpt_interval: int = 500  # steps between atomic checkpoints (0: none)
    resume: bool = False  # continue from out_dir/ckpt.pt
    stop_after: int = 0  # end the run after this many steps as if killed (no final eval or save); 0: off
    device: str = "auto"  # "cuda", "cpu" or "auto"
    amp: bool = True  # bf16 autocast on CUDA (evaluation stays fp32)
    save_dtype: str = "float16"  # dtype of the saved HF checkpoint
    progress: bool = True


class NonFiniteLoss(RuntimeError):
    pass


BUDGET_PROBE_STEPS = (10, 40)  # time_budget_s: the rate is measured between these steps (after CUDA warm-up)


class TimeBudget:
    """time_budget_s: the rate measured between BUDGET_PROBE_STEPS steps of this run (after CUDA warm-up) lowers
    cfg.max_steps so that training ends within the budget, 5% kept back for evaluations and saving. All ranks
    take rank 0's figure. `steps` is the lowered count, or None."""

    def __init__(self, cfg, t_start: float, world: int, device: str):
        self.cfg, self.t_start, self.world, self.device = cfg, t_start, world, device
        self.probe_time: Optional[float] = None
        self.steps: Optional[int] = None

    def step_done(self, steps_this_run: int, done: int) -> None:
        cfg = self.cfg
        if cfg.time_budget_s <= 0 or steps_this_run not in BUDGET_PROBE_STEPS:
            return
        if steps_this_run == BUDGET_PROBE_STEPS[0]:
            self.probe_time = time.time()
            return
        rate = (BUDGET_PROBE_STEPS[1] - BUDGET_PROBE_STEPS[0]) / (time.time() - self.probe_time)
        fits = done + int(0.95 * rate * (cfg.time_budget_s - (time.time() - self.t_start)))
        self.steps = _agree(min(cfg.max_steps, max(done, fits)), self.world, self.device)
        if self.steps < cfg.max_steps:
            print(f"time budget {cfg.time_budget_s:.0f}s at {rate:.2f} steps/s: max_steps {cfg.max_steps} -> {self.steps}",
                  file=sys.stderr, flush=True)
            cfg.max_steps = self.steps  # the cosine schedule follows (its warm-up is still running)


class BestEval:
    """keep_best and patience: the best validation figure (lower is better), its step and, with keep_best, a CPU
    copy of the weights then. update() runs on rank 0 and says whether patience has run out."""

    def __init__(self, keep_best: bool, patience: int):
        self.keep_best, self.patience = keep_best, patience
        self.value, self.step, self.state, self.stale = math.inf, None, None, 0

    def update(self, value: float, step: int, model: torch.nn.Module) -> bool:
        if value < self.value:
            self.value, self.step, self.stale = value, step, 0
            if self.keep_best:
                self.state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            self.stale += 1
        return self.patience > 0 and self.stale >= self.patience


def optimizer_step(loss: torch.Tensor, params: list, optimizer: torch.optim.Optimizer, contrast: Optional[torch.nn.Module],
                   grad_clip: float, world: int) -> float:
    """Backward, the contrastive heads' gradients averaged by hand (they sit outside DDP), clipping, the step;
    returns the loss averaged over ranks."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if contrast is not None and world > 1:
        for p in contrast.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= world
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
    if world == 1:
        return float(loss.detach())
    t = loss.detach().clone()
    dist.all_reduce(t)
    return float(t) / world


def rank_and_world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the environment torchrun (or our test launcher) sets."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def load_tokens(path: str) -> np.ndarray:
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: token file missing; build it with `npx tsx scripts/build_corpus.ts`")
    return np.fromfile(path, dtype="<u2")


def global_batch(tokens: np.ndarray, step: int, cfg: TrainConfig) -> torch.Tensor:
    """(batch_size, block_size + 1) windows chosen by (seed, step) alone."""
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    starts = torch.randint(0, len(tokens) - cfg.block_size - 1, (cfg.batch_size,), generator=g)
    return torch.stack([torch.from_numpy(tokens[s: s + cfg.block_size + 1].astype(np.int64)) for s in starts.tolist()])


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def sliding_windows(n_tokens: int, context: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, first scored position) of each window, the same windows as the runtime's
    (src/runtime/perplexity.ts): every token after the first is scored once, by the first window reaching it."""
    windows, prev_end, begin = [], 0, 0
    while begin < n_tokens:
        end = min(begin + context, n_tokens)
        windows.append((begin, end, max(prev_end, begin + 1)))
        prev_end = end
        if end == n_tokens:
            break
        begin += stride
    return windows


@torch.no_grad()
def perplexity(model: GPT2, tokens: np.ndarray, context: int, stride: int, device: str, max_tokens: int = 0,
               batch_windows: int = 8) -> dict:
    """Sliding-window perplexity in fp32. Windows of equal length run `batch_windows` at a time: the sums are
    the same as one window at a time, up to float rounding, and a GPU is not left waiting on launches
    (8 windows of 256 tokens hold 8·256·50257 fp32 logits, 0.4 GB)."""
    model.eval()
    toks = torch.from_numpy((tokens[:max_tokens] if max_tokens else tokens).astype(np.int64))
    windows = sliding_windows(len(toks), context, stride)
    total, scored, i = 0.0, 0, 0
    while i < len(windows):
        length = windows[i][1] - windows[i][0]
        group = [windows[i]]
        while len(group) < batch_windows and i + len(group) < len(windows) and \
                windows[i + len(group)][1] - windows[i + len(group)][0] == length:
            group.append(windows[i + len(group)])
        i += len(group)
        batch = torch.stack([toks[b:e] for b, e, _ in group]).to(device)  # (g, W)
        logits = model(batch).float()  # (g, W, V)
        # score position t+1 from logits at t, only from each window's first scored position on
        offsets = torch.tensor([first - b for b, _, first in group], device=device)  # (g,)
        mask = torch.arange(1, length, device=device)[None, :] >= offsets[:, None]  # (g, W-1)
        nll = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="none")
        total += float((nll.view(len(group), -1) * mask).sum())
        scored += int(mask.sum())
    model.train()
    return {"perplexity": math.exp(total / scored), "nll": total / scored, "scored_tokens": scored}


def atomic_torch_save(obj, path: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _number(text: str, key: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{key} is {text!r}: expected 'auto', 'maxabs', 'mse' or a number") from None


def build_student(cfg: TrainConfig, device: str) -> tuple[GPT2Config, GPT2, Optional[GPT2]]:
    quantizer, kd, contrast, _ = METHODS[cfg.method]
    if cfg.method == "pretrain":
        config = GPT2Config(vocab_size=50257, n_positions=cfg.n_positions, n_embd=cfg.n_embd, n_layer=cfg.n_layer,
                            n_head=cfg.n_head, resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout, attn_pdrop=cfg.dropout)
        torch.manual_seed(cfg.seed)
        return config, GPT2(config).to(device), None
    start = resolve_checkpoint(cfg.init_from, "init_from") if cfg.init_from else resolve_checkpoint(cfg.teacher, "teacher")
    config, student = load_hf(start)  # a directory, or a Hub id's snapshot in the Hugging Face cache (hub.py)
    teacher = None
    if kd or contrast:
        _, teacher = load_hf(resolve_checkpoint(cfg.teacher, "teacher"))
        teacher.to(device).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    student.to(device)
    gamma_init = cfg.gamma_init if cfg.gamma_init in ("auto", "maxabs", "mse") else _number(cfg.gamma_init, "gamma_init")
    quantize_model(student, quantizer, cfg.weight_bits, cfg.embedding_bits, cfg.activation_bits, gamma_init, cfg.group_size)
    return config, student, teacher


def make_optimizer(student: torch.nn.Module, contrast: Optional[torch.nn.Module], cfg) -> tuple[list, torch.optim.AdamW]:
    """(every trained parameter, AdamW): weight decay on matrices only; the quantizers' γ, α or s at
    quant_lr_scale × the learning rate (each group's lr_scale; the loop sets lr = schedule × lr_scale)."""
    params = list(student.parameters()) + (list(contrast.parameters()) if contrast is not None else [])
    quantizer_params = {id(p) for m in student.modules() if isinstance(m, WeightQuantizer) for p in m.parameters()}
    decay = [p for p in params if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in params if p.requires_grad and p.dim() < 2 and id(p) not in quantizer_params]
    clip_params = [p for p in params if p.requires_grad and id(p) in quantizer_params]  # γ, α or s: scalars
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay, "lr_scale": 1.0},
                                   {"params": no_decay, "weight_decay": 0.0, "lr_scale": 1.0},
                                   {"params": clip_params, "weight_decay": 0.0, "lr_scale": cfg.quant_lr_scale}],
                                  lr=cfg.lr, betas=(0.9, 0.95))
    return params, optimizer


def train(cfg: TrainConfig) -> dict:
    t_setup = time.time()
    if cfg.method not in METHODS:
        raise ValueError(f"unknown method {cfg.method!r}; one of {', '.join(METHODS)}")
    rank, world, local_rank = rank_and_world()
    if cfg.device == "auto":
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    else:
        device = cfg.device
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    if cfg.batch_size % world != 0:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {world} ranks")
    os.makedirs(cfg.out_dir, exist_ok=True)
    quantizer, kd, contrast_mode, hard_labels = METHODS[cfg.method]
    train_tokens = load_tokens(os.path.join(cfg.data_dir, "train.bin"))
    valid_tokens = load_tokens(os.path.join(cfg.data_dir, "valid.bin"))

    config, student, teacher = build_student(cfg, device)
    contrast = None
    if contrast_mode is not None:
        contrast = ContrastiveDistillation(config.vocab_size, config.n_embd, contrast_mode, cfg.tau,
                                           cfg.bank_momentum, cfg.proj_dim).to(device)
    trains = cfg.method not in ("rtn-maxabs", "rtn-mse")
    params, optimizer = make_optimizer(student, contrast, cfg)
    model = student
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(student, device_ids=[local_rank] if device.startswith("cuda") else None)

    start_step = 0
    ckpt_path = os.path.join(cfg.out_dir, "ckpt.pt")
    if cfg.resume and os.path.exists(ckpt_path):
        state = torch.load(ckpt_path, map_location=device)
        student.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if contrast is not None:
            contrast.load_state_dict(state["contrast"])
        start_step = state["step"]

    use_amp = cfg.amp and device.startswith("cuda")
    history, t_start, tokens_seen = [], time.time(), 0
    best = BestEval(cfg.keep_best, cfg.patience)
    budget = TimeBudget(cfg, t_start, world, device)
    setup_seconds = t_start - t_setup
    steps = range(start_step, cfg.max_steps if trains else 0)
    bar = tqdm(steps, disable=not (cfg.progress and tqdm and rank == 0), desc=cfg.method) if tqdm else steps
    per_rank = cfg.batch_size // world
    for step in bar:
        batch = global_batch(train_tokens, step, cfg)[rank * per_rank:(rank + 1) * per_rank].to(device)
        x, y = batch[:, :-1], batch[:, 1:]  # (b, T)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg) * group["lr_scale"]
        # torch 1.13's CPU build initialises CUDA inside a disabled autocast("cuda"): skip it entirely.
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else contextlib.nullcontext()
        with amp:
            logits, hidden = model(x, return_hidden=True)  # (b, T, V), (b, T, C)
            loss = torch.zeros((), device=device)
            if hard_labels:
                loss = loss + F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
            if teacher is not None:
                with torch.no_grad():
                    t_logits, t_hidden = teacher(x, return_hidden=True)
                if kd:
                    loss = loss + logit_distillation(logits, t_logits, cfg.kd_temperature)
                if contrast is not None:
                    keys = contrast.teacher_keys(t_hidden)  # (b, T, D)
                    if contrast.bank is not None:
                        ids, reps = x.reshape(-1), keys.detach().reshape(-1, keys.shape[-1])
                        if world > 1:  # every rank updates its bank from the whole global batch
                            ids_all = [torch.empty_like(ids) for _ in range(world)]
                            reps_all = [torch.empty_like(reps) for _ in range(world)]
                            dist.all_gather(ids_all, ids)
                            dist.all_gather(reps_all, reps)
                            ids, reps = torch.cat(ids_all), torch.cat(reps_all)
                        contrast.bank.update(ids, reps)
                    loss = loss + cfg.lam * contrast(hidden, keys, x)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"loss is {float(loss)} at step {step}: stopping ({cfg.method}, lr {lr_at(step, cfg):.2e})")
        mean_loss = optimizer_step(loss, params, optimizer, contrast, cfg.grad_clip, world)
        tokens_seen += cfg.batch_size * cfg.block_size
        history.append({"step": step, "loss": mean_loss})
        if tqdm and hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{mean_loss:.4f}", tok_s=f"{tokens_seen / max(1e-9, time.time() - t_start):,.0f}")
        done = step + 1
        budget.step_done(done - start_step, done)
        if cfg.eval_interval and done % cfg.eval_interval == 0 and done < cfg.max_steps:
            stop = 0
            if rank == 0:
                ppl = perplexity(student, valid_tokens, cfg.eval_context, cfg.eval_stride, device, cfg.eval_tokens)
                history[-1]["valid_perplexity"] = ppl["perplexity"]
                print(f"step {done}: valid perplexity {ppl['perplexity']:.3f}", file=sys.stderr, flush=True)
                stop = int(best.update(ppl["perplexity"], done, student))
            if _agree(stop, world, device):
                print(f"step {done}: no better validation perplexity in {cfg.patience} evaluations; stopping "
                      f"(best {best.value:.3f} at step {best.step})", file=sys.stderr, flush=True)
                break
        if cfg.ckpt_interval and done % cfg.ckpt_interval == 0 and rank == 0:
            state = {"model": student.state_dict(), "optimizer": optimizer.state_dict(), "step": done, "config": asdict(cfg)}
            if contrast is not None:
                state["contrast"] = contrast.state_dict()
            atomic_torch_save(state, ckpt_path)
        if cfg.stop_after and done >= cfg.stop_after:
            return {"config": asdict(cfg), "killed_at": done, "history": history}
        if done >= cfg.max_steps:  # time_budget_s may have lowered it below the range's end
            break
    train_seconds = time.time() - t_start
    steps_run = (history[-1]["step"] + 1 - start_step) if history else 0
    result = {"config": asdict(cfg), "world_size": world, "steps": steps_run if trains else 0,
              "train_seconds": train_seconds, "tokens_per_s": tokens_seen / train_seconds if tokens_seen else 0.0,
              "final_loss": history[-1]["loss"] if history else None, "history": history[-50:],
              "evals": [h for h in history if "valid_perplexity" in h]}
    result["setup_seconds"] = setup_seconds
    result["time_budget_steps"] = budget.steps
    if rank == 0:
        if best.step is not None:
            result["best_eval"] = {"step": best.step, "valid_perplexity": best.value}
        final_is_best = True
        if cfg.keep_best and best.state is not None:
            last = perplexity(student, valid_tokens, cfg.eval_context, cfg.eval_stride, device, cfg.eval_tokens)
            result["last_valid"] = {"step": steps_run + start_step, **last}
            if best.value < last["perplexity"]:
                student.load_state_dict(best.state)
                final_is_best = False
        result["kept"] = "last step" if final_is_best else f"step {best.step} (best validation)"
        t_eval = time.time()
        result["valid"] = perplexity(student, valid_tokens, cfg.eval_context, cfg.eval_stride, device, cfg.eval_tokens)
        test_path = os.path.join(cfg.data_dir, "test.bin")
        if os.path.exists(test_path):
            result["test"] = perplexity(student, load_tokens(test_path), cfg.eval_context, cfg.eval_stride, device, cfg.test_tokens)
        for name in cfg.extra_tests:
            result[name] = perplexity(student, load_tokens(os.path.join(cfg.data_dir, f"{name}.bin")), cfg.eval_context,
                                      cfg.eval_stride, device, cfg.test_tokens)
        result["eval_seconds"] = time.time() - t_eval
        model_dir = os.path.join(cfg.out_dir, "model")
        tokenizer_dir = cfg.teacher if os.path.isdir(cfg.teacher) else None
        if quantizer is None:
            save_hf(student, model_dir, dtype=getattr(torch, cfg.save_dtype))
        else:
            save_quantized(student, model_dir, {
                "weight_bits": cfg.weight_bits, "embedding_bits": cfg.embedding_bits, "activation_bits": cfg.activation_bits,
                "method": cfg.method, "granularity": "group" if cfg.group_size else "module", "group_size": cfg.group_size},
                tokenizer_dir=tokenizer_dir)
        with open(os.path.join(cfg.out_dir, "metrics.json.tmp"), "w") as f:
            json.dump(result, f, indent=1)
        os.replace(os.path.join(cfg.out_dir, "metrics.json.tmp"), os.path.join(cfg.out_dir, "metrics.json"))
        print(json.dumps({k: result[k] for k in ("setup_seconds", "steps", "train_seconds", "tokens_per_s", "final_loss",
                                                 "eval_seconds")} |
                         {"valid_ppl": result["valid"]["perplexity"], "test_ppl": result.get("test", {}).get("perplexity")} |
                         {f"{name}_ppl": result[name]["perplexity"] for name in cfg.extra_tests}),
              flush=True)
    result["student"] = student  # for callers in-process (tests compare ranks); not in metrics.json
    return result


def _agree(value: int, world: int, device: str) -> int:
    """rank 0's value on every rank (a no-op alone): decisions one rank makes, taken by all of them."""
    if world == 1:
        return value
    t = torch.tensor([value], dtype=torch.int64, device=device)
    dist.broadcast(t, 0)
    return int(t)


def main(argv: list[str]) -> None:
    run_command_line(TrainConfig, train, argv)


def run_command_line(config_cls, train_fn, argv: list[str]) -> None:
    """Both loops' entry point: the config from --config and --key=value overrides, one run, then the process
    group (torchrun's) torn down whatever happened."""
    try:
        train_fn(load_config(config_cls, *config_argv(argv)))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def config_argv(argv: list[str]) -> tuple[Optional[str], list[str]]:
    """(the --config file or None, the --key=value overrides) of a command line. `--init X` / `--init=X` is an
    alias of `--init_from=X` (a directory or a Hub id, as lowbit's CLI takes a checkpoint)."""
    path, rest, i = None, [], 0
    while i < len(argv):
        name, eq, value = argv[i].partition("=")
        if name not in ("--config", "--init"):
            rest.append(argv[i])
        else:
            if not eq:  # the value is the next argument
                if i + 1 >= len(argv):
                    raise ValueError(f"{name} needs a value: {name} VALUE or {name}=VALUE")
                i += 1
                value = argv[i]
            if name == "--config":
                path = value
            else:
                rest.append(f"--init_from={value}")
        i += 1
    return path, rest


if __name__ == "__main__":
    main(sys.argv[1:])
