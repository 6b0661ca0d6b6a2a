"""Collections from local files or ir_datasets ids, behind one interface: `load_collection(...)`.

Nothing is read before it is asked for; an ir_datasets id that needs a download fails fast offline with a
clear message instead of hanging.
"""

from workbench.datasets.sources import CollectionData, from_files, from_ir_datasets, infer_relevance_kind

__all__ = ["CollectionData", "from_files", "from_ir_datasets", "infer_relevance_kind"]
