"""Training metrics: JSON lines while training, a learning-curve PNG at the end."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from seqkit.errors import SeqkitError


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl`` (rank 0 only).

    A process killed in the middle of a write leaves a partial last line: opening the log
    (a resumed run) cuts it off, and ``records`` skips it, so the log stays readable.
    """

    def __init__(self, path: Path, enabled: bool = True):
        self.path, self.enabled = path, enabled
        if enabled:
            self.repair()

    def repair(self) -> None:
        """Cut a partial last line (one without its newline) off the file."""
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def write(self, **record) -> None:
        """Append ``record`` as one line."""
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")

    def records(self) -> list[dict]:
        """Every record written so far (including before a resume); a partial last line is
        skipped, any other unreadable line is an error."""
        if not self.path.is_file():
            return []
        text = self.path.read_text()
        lines = text.split("\n")
        if not text.endswith("\n"):
            lines = lines[:-1]  # the partial line of an interrupted write
        out = []
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise SeqkitError(f"{self.path} line {number} is not JSON ({err}); delete "
                                      "or fix that line") from err
        return out


def plot_curve(records: list[dict], path: Path,
               floor: Callable[[dict], float | None] | None = None) -> None:
    """Plot training and validation loss against the step into a PNG.

    ``floor(valid_record)`` (the task's ``loss_floor``) gives the lowest reachable loss, drawn
    as a dashed reference line from the last validation record that has one.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in records if r.get("split") == "train"]
    valid = [(r["step"], r["loss"]) for r in records if r.get("split") == "valid"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for points, label, style in ((train, "train", "-"), (valid, "valid", "o-")):
        if points:
            ax.plot(*zip(*points), style, label=label)
    floors = [floor(r) for r in records if r.get("split") == "valid"] if floor else []
    floors = [f for f in floors if f is not None]
    if floors:  # the best loss any model can reach on this data
        ax.axhline(floors[-1], color="grey", linestyle="--", label="floor")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per item)")
    ax.set_title("learning curve")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
