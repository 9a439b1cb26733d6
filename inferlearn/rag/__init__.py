"""Retrieval-augmented generation: corpus, chunking, embeddings, stores, sparse search, fusion,
re-ranking, query expansion and grounded answers: what the ``phase2_rag/`` notebooks build."""
