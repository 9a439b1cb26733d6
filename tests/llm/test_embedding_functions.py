"""The local embedding models work in-process and as registered chromadb embedding functions."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.needs_models


def test_minilm_vectors_are_unit_length_and_semantic():
    from inferlearn.server.embeddings import embed_texts

    vecs = embed_texts(["rotate an API key", "how do I change my API credentials", "sourdough bread"])
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.2


def test_long_text_is_truncated_not_rejected():
    from inferlearn.server.embeddings import embed_texts

    assert embed_texts(["word " * 5000]).shape == (1, 384)


def test_batch_order_is_preserved_when_lengths_differ():
    from inferlearn.server.embeddings import embed_texts

    texts = ["short", "a much longer text about consumer groups and partitions " * 5, "mid length text"]
    together = embed_texts(texts)
    alone = np.vstack([embed_texts([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)


@pytest.mark.parametrize(("bad", "error"), [([], ValueError), ("text", TypeError), ([1, 2], TypeError)])
def test_bad_inputs_are_named(bad, error):
    from inferlearn.server.embeddings import embed_texts

    with pytest.raises(error):
        embed_texts(bad)


def test_unknown_embedding_model_is_named():
    from inferlearn.server.embeddings import get_embedder

    with pytest.raises(KeyError, match="no local embedding model 'bert'"):
        get_embedder("bert")


def test_chroma_collection_reopens_with_its_embedding_function(tmp_path):
    import chromadb
    from chromadb.config import Settings

    from inferlearn.rag.chroma import MiniLMEmbeddingFunction

    settings = Settings(anonymized_telemetry=False)
    first = chromadb.PersistentClient(str(tmp_path), settings=settings)
    docs = first.get_or_create_collection("docs", embedding_function=MiniLMEmbeddingFunction(),
                                          configuration={"hnsw": {"space": "cosine"}})
    docs.upsert(ids=["keys", "bread"], documents=["Rotate API keys in the console.", "Bake sourdough."])
    del first
    reopened = chromadb.PersistentClient(str(tmp_path), settings=settings).get_collection("docs")
    assert reopened.configuration_json["embedding_function"]["name"] == "inferlearn-minilm-l6-int8"
    assert reopened.query(query_texts=["credential rotation"], n_results=1)["ids"] == [["keys"]]


def test_wordllama_import_leaves_root_logging_alone():
    """wordllama calls logging.basicConfig(INFO) on import; notebooks must not fill with INFO lines."""
    import subprocess
    import sys

    probe = "import logging; {}; r = logging.getLogger(); print(len(r.handlers), r.level)"
    raw = subprocess.run([sys.executable, "-c", probe.format("import wordllama")],
                         capture_output=True, text=True, check=True).stdout.split()
    ours = subprocess.run(
        [sys.executable, "-c", probe.format(
            "from inferlearn.server.embeddings import _import_wordllama; _import_wordllama()")],
        capture_output=True, text=True, check=True).stdout.split()
    assert raw == ["1", "20"], "wordllama no longer touches logging: drop the workaround"
    assert ours == ["0", "30"]
