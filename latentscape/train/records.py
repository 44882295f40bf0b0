"""What a run writes besides its checkpoint: RUN/metrics.csv (one row per evaluation),
RUN/curves.png (losses and metrics against the step), TensorBoard event files in RUN/tb when
the `tensorboard` package is installed (optional: `pip install latentscape[tensorboard]`)."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from latentscape.files import write_atomic

METRICS = "metrics.csv"
CURVES = "curves.png"
TB_DIR = "tb"


class MetricsLog:
    """RUN/metrics.csv: columns `step`, `split`, then `lr`, `train_loss`, `loss`, `<target>.loss`
    and every metric. Rewritten atomically on each append (small: one row per evaluation)."""

    def __init__(self, path: Path, columns: list[str]):
        self.path = Path(path)
        self.columns = ["step", "split"] + [c for c in columns if c not in ("step", "split")]

    def rows(self) -> list[dict]:
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as fh:
            return list(csv.DictReader(fh))

    def keep_until(self, step: int) -> None:
        """Drop rows after `step` (written after the checkpoint a resumed run starts from)."""
        rows = [r for r in self.rows() if int(r["step"]) <= step]
        self._write(rows)

    def append(self, row: dict) -> None:
        self._write(self.rows() + [{k: _fmt(row.get(k)) for k in self.columns}])

    def _write(self, rows: list[dict]) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        write_atomic(self.path, buf.getvalue())


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return str(v)


def plot_curves(csv_path: Path, png_path: Path) -> Path | None:
    """Losses (train and validation) and every R² / accuracy column against the step (None,
    and no file, where matplotlib is not installed)."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return None
    steps = [int(r["step"]) for r in rows]

    def col(name):
        return [float(r[name]) if r.get(name) not in (None, "") else math.nan for r in rows]

    scores = [c for c in rows[0] if c.endswith((".r2", ".acc"))]
    errors = [c for c in rows[0] if c.endswith("mae_deg") or c.endswith("geodesic_deg")]
    panels = [("loss", ["train_loss", "loss"], "loss"), ("R² / accuracy", scores, "score"),
              ("angle error", errors, "degrees")]
    panels = [p for p in panels if p[1]]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (title, cols, ylabel) in zip(axes[0], panels):
        for c in cols:
            ax.plot(steps, col(c), marker="o", ms=3, label={"loss": "val loss", "train_loss": "train loss"}.get(c, c))
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        if title == "loss":
            ax.set_yscale("log")
        elif ylabel == "score":  # an R² far below 0 (an unstable evaluation) would flatten the range that matters
            ax.set_ylim(max(ax.get_ylim()[0], -0.5), 1.05)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = Path(png_path).with_name(f".{Path(png_path).name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(png_path)
    return Path(png_path)


class TensorBoard:
    """Scalars to RUN/tb when tensorboard is importable; a no-op otherwise."""

    def __init__(self, run: Path, purge_step: int | None = None, enabled: bool = True):
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # the optional extra is not installed
            return
        self.writer = SummaryWriter(str(Path(run) / TB_DIR), purge_step=purge_step)

    @property
    def active(self) -> bool:
        return self.writer is not None

    def scalars(self, values: dict, step: int, prefix: str = "") -> None:
        if self.writer is None:
            return
        for k, v in values.items():
            if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)):
                self.writer.add_scalar(f"{prefix}{k}", v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
