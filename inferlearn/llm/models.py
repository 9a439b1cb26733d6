"""The model catalogue: context windows and prices, local and OpenAI.

Local models cost nothing to run, but the cost lessons need numbers, so they carry a small
*notional* price (``notional=True``): about what a comparable tiny hosted model would charge.
OpenAI prices are list prices per million tokens as of ``PRICES_AS_OF``; check
https://openai.com/api/pricing before relying on them. Introduced in
``phase1_llm_api/01_first_calls_and_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_AS_OF = "2025-08-15"

# Two local chat models: the course model, what a learner's lessons use by default, strong enough
# to show a technique working; and the fast model, what the test suite and CI-sized runs use.
LOCAL_COURSE_MODEL = "qwen2.5-coder-1.5b-instruct"
LOCAL_FAST_MODEL = "smollm2-135m-instruct"
LOCAL_EMBEDDING_MODEL = "minilm-l6-int8"
LOCAL_FAST_EMBEDDING_MODEL = "wordllama-256"


@dataclass(frozen=True)
class ModelInfo:
    """What the course needs to know about one model."""

    id: str
    provider: str  # "local" or "openai"
    kind: str  # "chat" or "embedding"
    context_window: int
    input_per_mtok: float  # USD per million input tokens
    output_per_mtok: float  # USD per million output tokens (0 for embeddings)
    notional: bool = False  # True: a made-up price for a model that runs locally for free
    dimensions: int | None = None  # embedding size
    encoding: str | None = None  # tokenizer: "local" or a tiktoken encoding name
    template: str | None = None  # local chat models: the prompt format (server.chat_format)


MODELS: dict[str, ModelInfo] = {
    m.id: m
    for m in (
        ModelInfo(LOCAL_COURSE_MODEL, "local", "chat", 8192, 0.10, 0.20, True, encoding="local",
                  template="qwen2.5"),
        ModelInfo(LOCAL_FAST_MODEL, "local", "chat", 8192, 0.02, 0.04, True, encoding="local",
                  template="smollm2"),
        ModelInfo(LOCAL_EMBEDDING_MODEL, "local", "embedding", 256, 0.005, 0.0, True, 384, "local"),
        ModelInfo(LOCAL_FAST_EMBEDDING_MODEL, "local", "embedding", 100_000, 0.001, 0.0, True, 256,
                  "local"),
        ModelInfo("gpt-4o-mini", "openai", "chat", 128_000, 0.15, 0.60, encoding="o200k_base"),
        ModelInfo("gpt-4o", "openai", "chat", 128_000, 2.50, 10.00, encoding="o200k_base"),
        ModelInfo("gpt-4.1-nano", "openai", "chat", 1_047_576, 0.10, 0.40, encoding="o200k_base"),
        ModelInfo("gpt-4.1-mini", "openai", "chat", 1_047_576, 0.40, 1.60, encoding="o200k_base"),
        ModelInfo("gpt-4.1", "openai", "chat", 1_047_576, 2.00, 8.00, encoding="o200k_base"),
        ModelInfo("gpt-5-nano", "openai", "chat", 400_000, 0.05, 0.40, encoding="o200k_base"),
        ModelInfo("gpt-5-mini", "openai", "chat", 400_000, 0.25, 2.00, encoding="o200k_base"),
        ModelInfo("gpt-5", "openai", "chat", 400_000, 1.25, 10.00, encoding="o200k_base"),
        ModelInfo("gpt-3.5-turbo", "openai", "chat", 16_385, 0.50, 1.50, encoding="cl100k_base"),
        ModelInfo("text-embedding-3-small", "openai", "embedding", 8191, 0.02, 0.0, False, 1536,
                  "cl100k_base"),
        ModelInfo("text-embedding-3-large", "openai", "embedding", 8191, 0.13, 0.0, False, 3072,
                  "cl100k_base"),
    )
}


def get_model_info(model: str) -> ModelInfo:
    """Catalogue entry for ``model``; dated snapshots (``gpt-4o-mini-2024-07-18``) map to their family."""
    if model in MODELS:
        return MODELS[model]
    family = max((m for m in MODELS if model.startswith(m + "-")), key=len, default=None)
    if family:
        return MODELS[family]
    raise KeyError(
        f"model {model!r} is not in the inferlearn catalogue; known models: "
        f"{', '.join(sorted(MODELS))}. Add it to inferlearn/llm/models.py with its prices."
    )


def usage_cost(model: str, prompt_tokens: int, completion_tokens: int = 0) -> float:
    """Cost in USD of one call, from the catalogue's per-million-token prices."""
    if prompt_tokens < 0 or completion_tokens < 0:
        raise ValueError(
            f"token counts must be >= 0, got prompt_tokens={prompt_tokens}, "
            f"completion_tokens={completion_tokens}"
        )
    info = get_model_info(model)
    return (prompt_tokens * info.input_per_mtok + completion_tokens * info.output_per_mtok) / 1e6
