"""Training metrics: JSON lines while training, a learning-curve PNG at the end."""
from __future__ import annotations

import json
import math
from pathlib import Path


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl`` (rank 0 only)."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path, self.enabled = path, enabled

    def write(self, **record) -> None:
        """Append ``record`` as one line."""
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")

    def records(self) -> list[dict]:
        """Every record written so far (including before a resume)."""
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]


def plot_curve(records: list[dict], path: Path) -> None:
    """Plot training and validation loss against the step into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in records if r.get("split") == "train"]
    valid = [(r["step"], r["loss"]) for r in records if r.get("split") == "valid"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for points, label, style in ((train, "train", "-"), (valid, "valid", "o-")):
        if points:
            ax.plot(*zip(*points), style, label=label)
    floors = [r["floor_ppl"] for r in records if r.get("split") == "valid" and "floor_ppl" in r]
    if floors:  # the best loss any model can reach on this data
        ax.axhline(math.log(floors[-1]), color="grey", linestyle="--", label="floor")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per item)")
    ax.set_title("learning curve")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
