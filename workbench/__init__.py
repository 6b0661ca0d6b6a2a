"""Retrieval evaluation workbench: store runs, score them exactly like trec_eval, analyse and compare.

The library (this package minus `cli` and `app`) never imports a face, and scoring never imports torch,
Java or pyserini, so the CLI and the dashboard start fast.
"""

__version__ = "0.1.0"
