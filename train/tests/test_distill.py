"""Tests for the distillation losses: logit distillation, the memory bank, and the batched contrastive loss
against a plain loop over sequences written straight from the formula in distill.py's docstring."""

import math

import pytest
import torch
import torch.nn.functional as F

from lowbit_train.distill import ContrastiveDistillation, MemoryBank, logit_distillation


def contrastive_reference(q_raw, keys_raw, ids, mode, tau, bank_keys=None):
    """−mean_i log softmax_i over the sequence's distinct tokens (bank) or its other-token positions (inbatch),
    one sequence and one position at a time, in float64."""
    total, count = 0.0, 0
    for b in range(ids.shape[0]):
        seq = ids[b].tolist()
        for i, token in enumerate(seq):
            q = F.normalize(q_raw[b, i].double(), dim=0)
            if mode == "bank":
                candidates = sorted(set(seq))
                keys = [F.normalize(bank_keys[v].double(), dim=0) for v in candidates]
                positive = candidates.index(token)
            else:
                candidates = [j for j in range(len(seq)) if j == i or seq[j] != token]
                keys = [F.normalize(keys_raw[b, j].double(), dim=0) for j in candidates]
                positive = candidates.index(i)
            sims = torch.stack([q @ k for k in keys]) / tau
            total += float(torch.logsumexp(sims, 0) - sims[positive])
            count += 1
    return total / count


def batch_with_repeats(B=3, T=12, vocab=9, C=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (B, T), generator=g)  # small vocab: tokens repeat within and across sequences
    ids[1] = ids[0]  # two identical sequences
    ids[2, :4] = 5  # a run of one token
    return ids, torch.randn(B, T, C, generator=g), torch.randn(B, T, C, generator=g)


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_bank_loss_equals_per_sequence_reference(tau):
    ids, student, teacher = batch_with_repeats()
    loss_fn = ContrastiveDistillation(vocab_size=9, dim=8, mode="bank", temperature=tau, momentum=0.9)
    loss_fn.bank.update(ids.reshape(-1), teacher.reshape(-1, 8))
    loss = loss_fn(student, loss_fn.teacher_keys(teacher), ids)
    assert float(loss) == pytest.approx(contrastive_reference(student, teacher, ids, "bank", tau, loss_fn.bank.keys), rel=1e-5)


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_inbatch_loss_equals_per_sequence_reference(tau):
    ids, student, teacher = batch_with_repeats(seed=1)
    loss_fn = ContrastiveDistillation(vocab_size=9, dim=8, mode="inbatch", temperature=tau)
    loss = loss_fn(student, loss_fn.teacher_keys(teacher), ids)
    assert float(loss) == pytest.approx(contrastive_reference(student, teacher, ids, "inbatch", tau), rel=1e-5)


def test_contrastive_gradient_reaches_student_and_projection():
    ids, student, teacher = batch_with_repeats(seed=2)
    student.requires_grad_(True)
    loss_fn = ContrastiveDistillation(vocab_size=9, dim=8, mode="bank", proj_dim=4)
    keys = loss_fn.teacher_keys(teacher)
    loss_fn.bank.update(ids.reshape(-1), keys.detach().reshape(-1, 4))
    loss_fn(student, keys, ids).backward()
    assert torch.isfinite(student.grad).all() and student.grad.abs().sum() > 0
    assert loss_fn.student_proj.weight.grad.abs().sum() > 0


def test_student_equal_to_teacher_scores_better_than_a_random_student():
    ids, student, teacher = batch_with_repeats(seed=3)
    loss_fn = ContrastiveDistillation(vocab_size=9, dim=8, mode="inbatch", temperature=0.1)
    keys = loss_fn.teacher_keys(teacher)
    assert float(loss_fn(teacher, keys, ids)) < float(loss_fn(student, keys, ids))


def test_memory_bank_momentum_update():
    bank = MemoryBank(vocab_size=4, dim=2, momentum=0.75)
    bank.update(torch.tensor([1, 1, 2]), torch.tensor([[2.0, 0.0], [0.0, 2.0], [0.0, -3.0]]))
    s = 1 / math.sqrt(2)
    assert torch.allclose(bank.keys[1], torch.tensor([s, s]))  # first sight: the normalised batch mean
    assert torch.allclose(bank.keys[2], torch.tensor([0.0, -1.0]))
    assert bank.seen.tolist() == [False, True, True, False]
    bank.update(torch.tensor([1]), torch.tensor([[5.0, 0.0]]))
    mixed = torch.tensor([0.75 * s + 0.25, 0.75 * s])
    assert torch.allclose(bank.keys[1], mixed / mixed.norm())
    assert torch.equal(bank.keys[0], torch.zeros(2))


def test_logit_distillation_is_the_soft_cross_entropy():
    g = torch.Generator().manual_seed(4)
    s, t = torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    for temperature in (1.0, 2.0):
        p = F.softmax(t / temperature, -1)
        expected = -(p * F.log_softmax(s / temperature, -1)).sum(-1).mean() * temperature ** 2
        assert float(logit_distillation(s, t, temperature)) == pytest.approx(float(expected), rel=1e-6)
    # equal logits: the loss is the teacher's entropy, its minimum over students
    assert float(logit_distillation(t, t)) < float(logit_distillation(s, t))
