"""The course's fictional company, Larkspur Streams: the names every layer shares.

Its products (a page's ``product``, a ticket's ``product`` field), its support teams (where the
phase 1 router sends a ticket), the values the ticket field extractor may return, and that
extractor's record, ``TicketFields``. Data and one Pydantic model, imported by ``rag`` (corpus
validation), ``llm`` (tool #1, ``llm.structured``) and ``prod`` (the router); ``data/WORLD.md``
describes the company. Library only.
"""

from __future__ import annotations

from datetime import date
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Product = Literal["streams", "queues", "connect", "console", "sdk", "billing", "platform"]
Team = Literal["billing", "technical", "account", "security", "sales", "legal"]
Severity = Literal["sev1", "sev2", "sev3", "sev4"]
Currency = Literal["USD", "EUR", "GBP", "CAD", "INR"]

PRODUCTS: tuple[str, ...] = get_args(Product)
TEAMS: tuple[str, ...] = get_args(Team)

EMAIL_PATTERN = r'^[^@ "]{1,32}@[^@ "]{1,32}$'  # bounded, so constrained decoding always ends


class TicketFields(BaseModel):
    """Tool #1's record: the fields a support desk wants from a ticket (``data/tickets`` gold).
    Introduced in ``phase1_llm_api/02_structured_outputs``."""

    model_config = ConfigDict(extra="forbid")

    customer_name: str | None = Field(max_length=40)
    email: str | None = Field(pattern=EMAIL_PATTERN)
    account_id: str | None = Field(pattern=r"^ACC-[0-9]{6}$")
    product: Product | None
    severity: Severity
    date: str | None = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    amount: float | None
    currency: Currency | None

    @field_validator("date")
    @classmethod
    def _real_date(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value} is not a real calendar date") from None
        return value

    @model_validator(mode="after")
    def _currency_with_amount(self) -> TicketFields:
        if (self.amount is None) != (self.currency is None):
            raise ValueError("amount and currency go together: set both or neither "
                             f"(got amount={self.amount}, currency={self.currency})")
        return self
