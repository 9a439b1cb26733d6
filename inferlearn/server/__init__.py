"""The local OpenAI-compatible model server: HTTP routes, the llama.cpp engine, grammars, chaos,
the usage log, the daemon that starts it on demand, embeddings and the pinned model files.

Notebooks do not import this package: they reach the server through ``inferlearn.llm.get_client()``.
"""
