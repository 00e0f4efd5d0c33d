"""Distillation losses for quantization-aware training: logit distillation and the paper's token-level
contrastive distillation (Tao et al., ACL 2022, section 3.1), with its memory bank and an in-batch variant.

Token-level contrastive distillation: for each position i of a sequence with token x_i, the student's
last-layer representation q_i should be close to the teacher's representation of the same token and far
from the teacher's representations of the *other distinct tokens* of the sequence:

    L_cont = − mean_i log( exp(cos(q_i, k_{x_i}) / τ) / Σ_{v ∈ distinct(x)} exp(cos(q_i, k_v) / τ) )

"bank" (the paper's choice): k_v is a memory-bank entry per vocabulary token, the momentum average of the
teacher's representations of v (k_v ← m · k_v + (1 − m) · mean of this batch's teacher reps of v, then
re-normalised; a token seen for the first time takes its batch mean). The bank is updated from the batch
before the loss, so the positive carries the current teacher.
"inbatch": keys are the teacher's representations at the other positions of the same sequence; positions
holding the same token as i are the positives' kin and are masked out, except i itself (the positive).

Optional projection heads (linear, student and teacher side) map representations before the cosine.
Under DistributedDataParallel the caller gathers (token ids, teacher reps) from all ranks before
`MemoryBank.update`, so every rank's bank stays identical.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def logit_distillation(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Soft cross-entropy −Σ softmax(z_t / T) · log softmax(z_s / T) · T², mean over tokens. Inputs (B, T, V)."""
    t = temperature
    p_teacher = F.softmax(teacher_logits.float() / t, dim=-1)
    log_p_student = F.log_softmax(student_logits.float() / t, dim=-1)
    return -(p_teacher * log_p_student).sum(-1).mean() * (t * t)


class MemoryBank(nn.Module):
    """Momentum-averaged, unit-norm teacher representation per vocabulary token: keys (V, D), seen (V)."""

    def __init__(self, vocab_size: int, dim: int, momentum: float):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("keys", torch.zeros(vocab_size, dim))  # (V, D)
        self.register_buffer("seen", torch.zeros(vocab_size, dtype=torch.bool))  # (V)

    @torch.no_grad()
    def update(self, token_ids: torch.Tensor, teacher_reps: torch.Tensor) -> None:
        """token_ids (N) long, teacher_reps (N, D): every position of the (gathered) batch."""
        reps = F.normalize(teacher_reps.float(), dim=-1)
        unique, inverse = torch.unique(token_ids, return_inverse=True)  # (U), (N)
        sums = torch.zeros(len(unique), reps.shape[1], device=reps.device).index_add_(0, inverse, reps)
        counts = torch.zeros(len(unique), device=reps.device).index_add_(0, inverse, torch.ones_like(inverse, dtype=torch.float))
        batch_mean = sums / counts[:, None]  # (U, D)
        old = self.keys[unique]
        seen = self.seen[unique][:, None]
        mixed = torch.where(seen, self.momentum * old + (1 - self.momentum) * batch_mean, batch_mean)
        self.keys[unique] = F.normalize(mixed, dim=-1)
        self.seen[unique] = True


class ContrastiveDistillation(nn.Module):
    """Token-level contrastive loss between student and teacher last-layer representations (B, T, C)."""

    def __init__(self, vocab_size: int, dim: int, mode: str = "bank", temperature: float = 0.1,
                 momentum: float = 0.9, proj_dim: int = 0):
        super().__init__()
        if mode not in ("bank", "inbatch"):
            raise ValueError(f"contrastive mode must be 'bank' or 'inbatch', got {mode!r}")
        self.mode = mode
        self.temperature = temperature
        out = proj_dim if proj_dim > 0 else dim
        self.student_proj = nn.Linear(dim, out) if proj_dim > 0 else nn.Identity()
        self.teacher_proj = nn.Linear(dim, out) if proj_dim > 0 else nn.Identity()
        self.bank = MemoryBank(vocab_size, out, momentum) if mode == "bank" else None

    def teacher_keys(self, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """Projected teacher representations (B, T, D); the bank update uses these (gathered across ranks)."""
        return self.teacher_proj(teacher_hidden.float())

    def forward(self, student_hidden: torch.Tensor, teacher_keys: torch.Tensor, token_ids: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """student_hidden (B, T, C), teacher_keys (B, T, D) from teacher_keys(), token_ids (B, T); mask (B, T)
        bool marks real tokens (None: all are; padding is neither a query nor a key). Call bank.update first
        in "bank" mode. All sequences at once: each row's softmax runs over one shared key set with the keys
        its own sequence may not see masked to −inf, which is the per-sequence loss of the module docstring
        exactly (tests/test_distill.py checks it against a loop over sequences)."""
        q = F.normalize(self.student_proj(student_hidden.float()), dim=-1)  # (B, T, D)
        B, T = token_ids.shape
        if mask is None:
            mask = torch.ones(B, T, dtype=torch.bool, device=q.device)
        row = torch.arange(B, device=q.device)[:, None].expand(B, T)[mask]  # (N,): the sequence of each real token
        if self.mode == "bank":
            distinct, target = torch.unique(token_ids[mask], return_inverse=True)  # (U), (N): the batch's tokens
            keys = self.bank.keys[distinct]  # (U, D)
            logits = q[mask] @ keys.t() / self.temperature  # (N, U)
            in_sequence = torch.zeros(B, len(distinct), dtype=torch.bool, device=q.device)
            in_sequence[row, target] = True  # (B, U): the distinct tokens of each sequence
            logits = logits.masked_fill(~in_sequence[row], float("-inf"))
        else:
            keys = F.normalize(teacher_keys.float(), dim=-1)  # (B, T, D)
            logits = q @ keys.transpose(1, 2) / self.temperature  # (B, T, T)
            same = token_ids[:, :, None] == token_ids[:, None, :]  # (B, T, T)
            eye = torch.eye(T, dtype=torch.bool, device=q.device)
            logits = logits.masked_fill((same & ~eye) | ~mask[:, None, :], float("-inf"))[mask]  # (N, T)
            target = torch.arange(T, device=q.device).expand(B, T)[mask]  # (N,)
        return F.cross_entropy(logits, target, reduction="sum") / max(1, int(mask.sum()))
