"""Vitrine: multimodal image intelligence for e-commerce and travel sites.

The package never imports torch, transformers or faiss at module level: the Lambda bundle carries only
``vitrine`` and light dependencies; heavy libraries are loaded lazily by the local adapters.
"""

__version__ = "0.1.0"
