"""The course's fictional company, Larkspur Streams: the names every layer shares.

Its products (a page's ``product``, a ticket's ``product`` field), its support teams (where the
phase 1 router sends a ticket), and the values the ticket field extractor may return. Plain data,
imported by ``rag`` (corpus validation), ``llm`` (the extractor's schema) and ``prod`` (the
router); ``data/WORLD.md`` describes the company. Library only.
"""

from __future__ import annotations

from typing import Literal, get_args

Product = Literal["streams", "queues", "connect", "console", "sdk", "billing", "platform"]
Team = Literal["billing", "technical", "account", "security", "sales", "legal"]
Severity = Literal["sev1", "sev2", "sev3", "sev4"]
Currency = Literal["USD", "EUR", "GBP", "CAD", "INR"]

PRODUCTS: tuple[str, ...] = get_args(Product)
TEAMS: tuple[str, ...] = get_args(Team)
