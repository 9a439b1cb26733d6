"""``inferlearn app``: run the Larkspur assistant service (``inferlearn.prod.service``).

    inferlearn app --port 0 --key sk-dev-1=dev          # any free port; prints the URL
    curl -H 'Authorization: Bearer sk-dev-1' -d '{"query": "refund window?"}' http://127.0.0.1:PORT/v1/answer

Keys come from ``--key KEY=CLIENT`` (repeatable) or ``INFERLEARN_APP_KEYS`` ("KEY=CLIENT,...").
Ctrl-C or SIGTERM stops it cleanly (in-flight requests get 3 s to finish).
Introduced in ``phase4_production/01_service_contract``.
"""

from __future__ import annotations

import argparse
import socket
from typing import Any


def parse_keys(specs: list[str]) -> dict[str, str]:
    """``["KEY=CLIENT", ...]`` (or comma-separated) -> ``{key: client}``; clear error otherwise."""
    keys: dict[str, str] = {}
    for spec in (part.strip() for item in specs for part in item.split(",")):
        if not spec:
            continue
        key, sep, name = spec.partition("=")
        if not sep or len(key.strip()) < 8 or not name.strip():
            raise ValueError(f"API key setting {spec!r} must be KEY=CLIENT with a key of at least "
                             "8 characters, e.g. sk-dev-0001=dev")
        keys[key.strip()] = name.strip()
    return keys


def default_retriever(pipeline: str = "bm25", n_docs: int | None = None) -> Any:
    """A phase 2 pipeline over the Larkspur docs chunked by headings (``n_docs``: the first pages)."""
    from inferlearn.rag.chunking import chunk_docs
    from inferlearn.rag.corpus import load_corpus
    from inferlearn.rag.pipelines import build_pipeline

    docs = load_corpus()
    return build_pipeline(pipeline, chunk_docs(docs[:n_docs] if n_docs else docs, "headings"))


def default_classifier() -> Any:
    """Phase 1's TF-IDF + logistic regression router, trained on the tickets' train split."""
    from inferlearn.data import load_tickets
    from inferlearn.prod.classify_service import ticket_text, train_baseline

    train = load_tickets("train")
    return train_baseline([ticket_text(t, s) for t, s in zip(train["text"], train["subject"], strict=True)],
                          list(train["team"]))


def _app(args: argparse.Namespace) -> int:
    import uvicorn

    from inferlearn.config import settings
    from inferlearn.llm import default_model, get_client
    from inferlearn.prod.service import ServiceSettings, create_app

    keys = parse_keys(args.key or [settings().app_keys or ""])
    if not keys:
        raise ValueError("no API keys: pass --key KEY=CLIENT (or set INFERLEARN_APP_KEYS)")
    service = ServiceSettings(api_keys=keys, rate_per_s=args.rate, burst=args.burst,
                              model=default_model(), chaos=args.chaos)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        raise RuntimeError(f"cannot listen on {args.host}:{args.port} ({exc.strerror}); choose another "
                           "--port, or --port 0 for any free one") from None
    app = create_app(service, retriever=default_retriever(args.pipeline), client=get_client(),
                     classifier=default_classifier())
    port = sock.getsockname()[1]
    print(f"Larkspur assistant on http://{args.host}:{port} (docs: /docs; {len(keys)} key(s)); "
          "Ctrl-C stops it", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3))
    server.run(sockets=[sock])
    print("stopped", flush=True)
    return 0


def register(sub) -> None:
    """Add ``app`` to the ``inferlearn`` command."""
    app = sub.add_parser("app", help="run the Larkspur assistant service (phase 4)")
    app.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    app.add_argument("--port", type=int, default=8400, help="port (0 = any free port)")
    app.add_argument("--key", action="append", help="API key as KEY=CLIENT (repeatable)")
    app.add_argument("--rate", type=float, default=5.0, help="requests per second per key")
    app.add_argument("--burst", type=int, default=10, help="requests a key may send at once")
    app.add_argument("--pipeline", default="bm25", help="retrieval pipeline (phase 2 presets)")
    app.add_argument("--chaos", help="X-Inferlearn-Chaos sent to the local model, e.g. error_rate=0.2")
    app.set_defaults(func=_app)
