"""``kgreason-train``: train a claim scorer and write its model folder.

    python -m server.training.cli train --dataset umls --out .kgreason/models/umls
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from server.model.network import PAIR_SCORES
from server.training.trainer import MODES, SELECTIONS, TrainingConfig


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainingConfig()
    parser = argparse.ArgumentParser(prog="kgreason-train", description="Train a claim scorer on a benchmark data set.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train, calibrate on dev, evaluate on test, write the model folder")
    train.add_argument("--dataset", default=defaults.dataset, help="benchmark name (umls, codex-s, wn18rr) or data-set folder (default: umls)")
    train.add_argument("--out", type=Path, default=defaults.out, help="model folder to write (default: %(default)s)")
    train.add_argument("--device", default=defaults.device, help="cpu or cuda:N (default: cpu)")
    train.add_argument("--seed", type=int, default=defaults.seed, help="seed for sampling, initialisation and order (default: 0)")
    train.add_argument("--mode", choices=MODES, default=defaults.mode, help="features: both, text (BERT only) or graph (no BERT) (default: both)")
    train.add_argument("--epochs", type=int, default=defaults.epochs, help="maximum epochs (default: %(default)s)")
    train.add_argument("--patience", type=int, default=defaults.patience,
                       help="epochs without a better dev figure (see --select-by) before stopping (default: %(default)s)")
    train.add_argument("--select-by", choices=SELECTIONS, default=defaults.select_by,
                       help="dev figure that picks the epoch whose weights are kept: loss (lowest dev loss) or accuracy "
                            "(highest dev accuracy with per-relation thresholds fitted on dev) (default: %(default)s)")
    train.add_argument("--time-limit", type=float, default=None,
                       help="minutes of training after which no new epoch starts; the best epoch so far is kept (default: none)")
    train.add_argument("--batch-size", type=int, default=defaults.batch_size, help="claims per step (default: %(default)s)")
    train.add_argument("--learning-rate", type=float, default=defaults.learning_rate, help="Adam learning rate (default: %(default)s)")
    train.add_argument("--weight-decay", type=float, default=defaults.weight_decay,
                       help="Adam weight decay (L2 penalty) on every parameter (default: %(default)s)")
    train.add_argument("--dropout", type=float, default=defaults.dropout,
                       help="dropout in message passing and the fusion head (default: %(default)s)")
    train.add_argument("--pair-score", choices=PAIR_SCORES, default=defaults.pair_score,
                       help="pairwise term on the entity embeddings: distmult or complex (ComplEx) (default: %(default)s)")
    train.add_argument("--negatives", type=int, default=defaults.negatives, help="corruptions per train positive (default: %(default)s)")
    train.add_argument("--hard-fraction", type=float, default=defaults.hard_fraction,
                       help="share of corruptions drawn from entities seen with the relation in that position (default: %(default)s)")
    train.add_argument("--max-train-positives", type=int, default=None, help="train on a seeded sample of this many positives (default: all)")
    train.add_argument("--hops", type=int, default=defaults.hops, help="retrieval radius in hops (default: %(default)s)")
    train.add_argument("--fanout", type=int, default=defaults.fanout, help="edges kept per expanded node (default: %(default)s)")
    train.add_argument("--hidden", type=int, default=defaults.hidden_dimensions, help="hidden width (default: %(default)s)")
    train.add_argument("--layers", type=int, default=defaults.layers, help="RelGraphConv layers (default: %(default)s)")
    train.add_argument("--text-encoder", default=None, help="local Hugging Face BERT folder (default: the packaged MiniLM)")
    train.add_argument("--cache-dir", type=Path, default=defaults.cache_dir, help="cache of entity and claim text encodings (default: %(default)s)")
    train.add_argument("--threads", type=int, default=None,
                       help="CPU threads for torch (default: torch's choice); 1 is fastest on a shared, busy machine")
    train.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DGLBACKEND", "pytorch")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    import torch

    from server.training.trainer import train

    if args.threads:
        torch.set_num_threads(args.threads)

    config = TrainingConfig(
        dataset=args.dataset, out=args.out, device=args.device, seed=args.seed, mode=args.mode, epochs=args.epochs,
        patience=args.patience, select_by=args.select_by, time_limit_minutes=args.time_limit, batch_size=args.batch_size, learning_rate=args.learning_rate,
        weight_decay=args.weight_decay, dropout=args.dropout, pair_score=args.pair_score,
        negatives=args.negatives, hard_fraction=args.hard_fraction, max_train_positives=args.max_train_positives,
        hops=args.hops, fanout=args.fanout, hidden_dimensions=args.hidden, layers=args.layers,
        text_encoder=args.text_encoder, cache_dir=args.cache_dir, plots=not args.no_plots,
    )
    try:
        summary = train(config)
    except (FileNotFoundError, ValueError) as error:
        print(f"kgreason-train: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
