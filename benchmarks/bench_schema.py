"""Schema mode on the local backend: how often the first reply is a valid record.

The goal (issues 10 and 11): at least 95% of ``Contact`` replies valid on the first try with the
course model. ``phase1_llm_api/02`` measures this at its own size among other things; this
benchmark measures only that, on more tickets, with a Wilson 95% interval, for ``Contact`` (the
notebook's record, rebuilt here the same way) and tool #1's ``TicketFields``. No retries: one call
per ticket and record, ``response_format`` = the strict JSON schema, temperature 0.

    python benchmarks/bench_schema.py                  # course model, 40 tickets (dev + held-out)
    python benchmarks/bench_schema.py --n 5 --model smollm2-135m-instruct --out build/bench/schema_quick.json
"""

from __future__ import annotations

import argparse
import os
import time

from _common import write_json
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import binomtest

from inferlearn.data import load_tickets
from inferlearn.larkspur import EMAIL_PATTERN, TicketFields
from inferlearn.llm import get_client
from inferlearn.llm.models import LOCAL_COURSE_MODEL
from inferlearn.llm.structured import TICKET_INSTRUCTIONS, run_extraction


class Contact(BaseModel):
    """Who wrote a support ticket (as ``phase1_llm_api/02_structured_outputs`` defines it)."""

    model_config = ConfigDict(extra="forbid")
    customer_name: str | None = Field(max_length=40)
    email: str | None = Field(pattern=EMAIL_PATTERN)
    account_id: str | None = Field(pattern=r"^ACC-[0-9]{6}$")


CONTACT_INSTRUCTIONS = ("Extract the contact details of the person who wrote this support ticket; "
                        "use null for anything missing.")
RECORDS = {
    "Contact": (Contact, CONTACT_INSTRUCTIONS, 150),
    "TicketFields": (TicketFields, TICKET_INSTRUCTIONS, 200),
}


def measure(client, model: str, texts: list[str], name: str) -> dict:
    """First-reply validity of one record over ``texts``, with the interval and the failures."""
    model_cls, instructions, max_tokens = RECORDS[name]
    valid, failures, started = 0, [], time.perf_counter()
    for index, text in enumerate(texts):
        run = run_extraction(client, text, model_cls, max_retries=0, model=model, mode="json_schema",
                             instructions=instructions, max_tokens=max_tokens)
        if run.value is not None:
            valid += 1
        else:
            failures.append({"ticket": index, "finish_reason": run.finish_reasons[-1],
                             "error": (run.errors or [""])[-1][:200], "reply": (run.replies[-1] or "")[:200]})
    low, high = binomtest(valid, len(texts)).proportion_ci(method="wilson")
    return {"record": name, "n": len(texts), "valid_first_reply": valid,
            "share": round(valid / len(texts), 3), "wilson_95": [round(low, 3), round(high, 3)],
            "seconds_per_call": round((time.perf_counter() - started) / len(texts), 2),
            "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=LOCAL_COURSE_MODEL)
    parser.add_argument("--n", type=int, default=40, help="tickets (dev, then held-out, by id)")
    parser.add_argument("--records", nargs="+", default=list(RECORDS), choices=list(RECORDS))
    parser.add_argument("--out", default="build/bench/schema.json")
    args = parser.parse_args()
    tickets = load_tickets()
    tickets = tickets[tickets["split"].isin(["dev", "heldout"])].sort_values(["split", "id"])
    texts = tickets["text"].tolist()[: args.n]
    client = get_client()
    load_before = os.getloadavg()
    results = [measure(client, args.model, texts, name) for name in args.records]
    write_json({"model": args.model, "backend": os.environ.get("INFERLEARN_BACKEND", "local"),
                "llm_threads": os.environ.get("INFERLEARN_LLM_THREADS", "default"),
                "load_average_before": load_before, "load_average_after": os.getloadavg(),
                "goal": "Contact valid on the first reply >= 95%", "results": results}, args.out)
    for row in results:
        print(f"{row['record']}: {row['valid_first_reply']}/{row['n']} valid "
              f"({row['share']:.0%}, Wilson 95% {row['wilson_95'][0]:.2f}-{row['wilson_95'][1]:.2f}), "
              f"{row['seconds_per_call']} s a call")


if __name__ == "__main__":
    main()
