"""Figures a person would rather look at than read: annotated heatmaps (layer x latent decoding,
layer x layer CKA) and per-layer curves (neural predictivity, CKA along the diagonal).
Each function writes one PNG (matplotlib, Agg) atomically and returns its path."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path) -> Path:
    from latentscape.files import replace_atomically
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    _plt().close(fig)
    replace_atomically(path, lambda fh: fh.write(buf.getvalue()))
    return Path(path)


def heatmap(matrix, rows, cols, path, *, title: str, xlabel: str = "", ylabel: str = "", vmin=0.0, vmax=1.0,
            cmap: str = "viridis", colorbar: str = "", fmt: str = "{:.2f}") -> Path:
    """An annotated heatmap of `matrix` (len(rows) x len(cols)); NaN cells are left blank."""
    plt = _plt()
    m = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * max(len(cols), 3), 1.0 + 0.5 * max(len(rows), 3)))
    im = ax.imshow(np.ma.masked_invalid(m), vmin=vmin, vmax=vmax, cmap=cmap, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=40, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    mid = vmin + 0.5 * (vmax - vmin)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if np.isfinite(m[i, j]):
                ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=8,
                        color="black" if m[i, j] > mid else "white")
    fig.colorbar(im, ax=ax, label=colorbar)
    return _save(fig, path)


def decode_heatmap(scores, path, title: str = "Linear decoding of latents per layer") -> Path:
    """Layer x latent: held-out R² (continuous, angles via sin/cos) or accuracy (categorical,
    chance in the column label)."""
    layers = list(dict.fromkeys(s.layer for s in scores))
    latents = list(dict.fromkeys(s.latent for s in scores))
    m = np.full((len(layers), len(latents)), np.nan)
    chance = {}
    for s in scores:
        m[layers.index(s.layer), latents.index(s.latent)] = s.score
        if s.chance is not None:
            chance[s.latent] = s.chance
    cols = [f"{x} (acc; chance {chance[x]:.2f})" if x in chance else f"{x} (R²)" for x in latents]
    return heatmap(m, layers, cols, path, title=title, xlabel="latent", ylabel="layer", colorbar="R² / accuracy")


def cka_heatmap(matrix, layers_a, layers_b, path, *, name_a: str, name_b: str, kind: str) -> Path:
    return heatmap(matrix, layers_a, layers_b, path, title=f"{kind} CKA: {name_a} vs {name_b}",
                   xlabel=name_b, ylabel=name_a, colorbar="CKA", cmap="magma")


def layer_curves(series: dict[str, list], layers: list[str], path, *, title: str, ylabel: str,
                 ylim=None) -> Path:
    """One line per entry of `series` (values per layer, None/NaN allowed)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.5 + 0.9 * len(layers), 3.6))
    for label, values in series.items():
        v = np.array([np.nan if x is None else x for x in values], dtype=float)
        ax.plot(range(len(layers)), v, marker="o", label=label)
    ax.set_xticks(range(len(layers)), layers, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
