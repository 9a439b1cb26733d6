"""Language models for the course: one client for every backend, tokens, costs, usage.

>>> from inferlearn.llm import get_client, default_model
>>> client = get_client()          # the embedded local model unless INFERLEARN_BACKEND says otherwise
>>> client.chat.completions.create(model=default_model(), messages=[...])
"""

from inferlearn.llm.client import default_embedding_model, default_model, get_client
from inferlearn.llm.models import MODELS, PRICES_AS_OF, get_model_info, usage_cost
from inferlearn.llm.tokens import count_tokens
from inferlearn.server.usage import read_usage

__all__ = ["get_client", "default_model", "default_embedding_model", "count_tokens", "read_usage",
           "MODELS", "PRICES_AS_OF", "get_model_info", "usage_cost"]
