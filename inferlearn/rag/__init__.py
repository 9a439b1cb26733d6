"""Retrieval-augmented generation: corpus, chunking, embeddings, stores, sparse search, fusion,
re-ranking, query expansion and grounded answers. Introduced in ``phase2_rag/``."""
