"""Use cases: the store-level operations the CLI, the dashboard and the notebook API share.

Faces (workbench.cli, workbench.app, workbench.api) call these; these call the store, io, scoring, retrieval,
analysis and export layers. Each module is one thing a user does: ingest, evaluate, compare, depth, ...
"""
