"""Losses per latent kind, and their weighted average over the targets.

    continuous   MSE on z-scored values (statistics of the training part)
    circular     MSE on (sin, cos)
    rotation     sincos / 6d: MSE on the encoding; quat: MSE to the nearer of q and -q
                 (q and -q are the same rotation)
    categorical  cross-entropy on the logits

Training targets arrive z-scored from the dataset layer (continuous="zscore"); evaluation
targets arrive raw (natural units, as metrics need them) and are z-scored here with the
run's statistics (`normalise_targets`) before the loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from latentscape.train.heads import Head, output_layout


def split_outputs(out: torch.Tensor, heads: list[Head]) -> dict[str, torch.Tensor]:
    """The network's (B, width) output cut into one (B, head.width) slice per target."""
    return {k: out[:, s] for k, s in output_layout(heads).items()}


def head_loss(h: Head, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    pred = pred.float()
    if h.kind == "categorical":
        return F.cross_entropy(pred, y.long())
    y = y.float().reshape(pred.shape)
    if h.encoding == "quat":
        plus = (pred - y).pow(2).mean(dim=1)
        minus = (pred + y).pow(2).mean(dim=1)
        return torch.minimum(plus, minus).mean()
    return F.mse_loss(pred, y)


def total_loss(out: torch.Tensor, y: dict, heads: list[Head]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(weighted mean of the per-target losses, per-target losses)."""
    preds = split_outputs(out, heads)
    parts = {h.key: head_loss(h, preds[h.key], y[h.key]) for h in heads}
    wsum = sum(h.weight for h in heads)
    loss = sum(h.weight * parts[h.key] for h in heads) / wsum
    return loss, parts


def normalise_targets(y: dict, heads: list[Head]) -> dict:
    """Raw (natural-unit) targets -> the encoding the loss takes (continuous ones z-scored)."""
    out = dict(y)
    for h in heads:
        if h.encoding == "zscore":
            mean, std = h.scale()
            v = y[h.key].double()
            m = torch.as_tensor(mean, device=v.device).reshape((1,) + tuple(v.shape[1:]) if v.dim() > 1 else ())
            s = torch.as_tensor(std, device=v.device).reshape((1,) + tuple(v.shape[1:]) if v.dim() > 1 else ())
            out[h.key] = ((v - m) / s).float()
    return out
