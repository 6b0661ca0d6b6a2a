"""Readers and writers for runs, qrels, topics and docs; every format error names the file and line.

Import from the submodules (workbench.io.runs, .qrels, .topics, .docs, .trec_writer, .validate); this package
imports nothing eagerly so that `import workbench.io` stays cheap.
"""
