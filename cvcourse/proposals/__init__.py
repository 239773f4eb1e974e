"""Chapter 09: region proposals. Selective search, and how to measure proposals (recall vs. number).

- `selective_search`: the `selectivesearch` package, fixed and wrapped (`search.py`, `_shim.py`).
- `hierarchical_grouping`, `similarity`, `merge_regions`, `initial_regions`: the grouping step written
  out from scratch (colour + size + fill), for the chapter's exercise (`grouping.py`).
- `proposal_recall`: the fraction of ground-truth boxes found by the first k proposals (`recall.py`).
"""
from .grouping import Region, hierarchical_grouping, initial_regions, merge_regions, similarity
from .recall import proposal_recall
from .search import selective_search

__all__ = ["Region", "hierarchical_grouping", "initial_regions", "merge_regions", "proposal_recall", "selective_search",
           "similarity"]
