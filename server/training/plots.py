"""PNG plots written beside a trained model: the loss curve and the reliability diagram."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)


def plot_loss(path: Path, train_loss: Sequence[float], dev_loss: Sequence[float]) -> None:
    figure, axes = plt.subplots(figsize=(5, 3.5))
    epochs = range(1, len(train_loss) + 1)
    axes.plot(epochs, train_loss, marker="o", label="train")
    axes.plot(epochs, dev_loss, marker="o", label="dev")
    axes.set_xlabel("epoch")
    axes.set_ylabel("binary cross-entropy")
    axes.set_title("Loss")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_reliability(path: Path, bins: Sequence[tuple[float, float, int]], ece: float, title: str) -> None:
    figure, axes = plt.subplots(figsize=(4, 4))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    if bins:
        confidence, accuracy, counts = zip(*bins)
        axes.plot(confidence, accuracy, marker="o", label=f"model (ECE {ece:.3f})")
    axes.set_xlabel("calibrated probability")
    axes.set_ylabel("fraction of true claims")
    axes.set_title(title)
    axes.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
