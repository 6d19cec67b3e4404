"""Data sets shipped with kgreason.

``UMLS_PATH``: the UMLS semantic network benchmark (Kok & Domingos 2007; 135 entities,
46 relations, 5,216 / 652 / 661 train / dev / test triples), the demo's default graph.
Copied from the KG-BERT repository under Apache-2.0; see ``umls/README.md``.
"""
from pathlib import Path

UMLS_PATH = Path(__file__).resolve().parent / "umls"
