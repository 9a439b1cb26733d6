"""``inferlearn serve`` and ``inferlearn models``."""

from __future__ import annotations

import argparse
import json


def _serve(args: argparse.Namespace) -> int:
    from inferlearn.server import daemon

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} is not a TCP port; use 1-65535, or 0 for any free port")
    for flag, value in (("--threads", args.threads), ("--batch-threads", args.batch_threads)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} {value} is not a thread count; use at least 1 (or leave it out)")
    if args.stop:
        print("stopped the local server" if daemon.stop_server() else "no local server was running")
        return 0
    if args.status:
        rec = daemon.running_server()
        print(json.dumps(rec) if rec else "no local server is running")
        return 0 if rec else 1
    from inferlearn.config import secret, settings
    from inferlearn.server.app import ServerSettings, create_app
    from inferlearn.server.chaos import parse_chaos
    env = settings()
    threads = args.threads if args.threads is not None else env.llm_threads
    server = ServerSettings(
        model_path=args.model, n_ctx=args.ctx, n_threads=threads,
        n_threads_batch=args.batch_threads if args.batch_threads is not None else env.llm_batch_threads,
        api_key=args.api_key or secret(env.server_api_key),
        chaos=parse_chaos(args.chaos if args.chaos is not None else env.chaos),
        max_queue=args.max_queue)
    idle = args.idle_timeout if args.idle_timeout is not None else (
        daemon.idle_timeout() if args.record else None)
    daemon.serve_forever(create_app(server), args.host, args.port, idle, args.record)
    return 0


def _models(args: argparse.Namespace) -> int:
    from inferlearn.server.modelfiles import (
        CHAT_MODEL_FILES,
        MODEL_FILES,
        check_chat_model_runs,
        install_models,
        is_verified,
    )

    if args.action == "install":
        fetched = install_models()
        print(f"fetched {len(fetched)} file(s); all {len(MODEL_FILES)} model files verified")
        for model in CHAT_MODEL_FILES:
            check_chat_model_runs(model=model)
            print(f"ok  llama.cpp generates with {model} on this CPU")
        return 0
    for spec in MODEL_FILES:
        source = f"{len(spec.parts)} parts" if spec.parts else f"{spec.package}=={spec.version}"
        print(f"{'ok ' if is_verified(spec) else 'MISSING'}  {spec.name}  ({source})")
    return 0


def register(sub) -> None:
    """Add ``serve`` and ``models`` to the ``inferlearn`` command."""
    serve = sub.add_parser("serve", help="run the local OpenAI-compatible model server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8321, help="port (0 = any free port)")
    serve.add_argument("--model", help="path to one GGUF chat model to serve under every local model "
                                       "id (default: each id's catalogue file, loaded on first use)")
    serve.add_argument("--ctx", type=int, default=8192, help="context window in tokens")
    serve.add_argument("--threads", type=int, default=None,
                       help="generation threads (INFERLEARN_LLM_THREADS; default: half the cores)")
    serve.add_argument("--batch-threads", type=int, default=None,
                       help="prompt-processing threads (INFERLEARN_LLM_BATCH_THREADS; default: every core)")
    serve.add_argument("--api-key", help="require this bearer key (INFERLEARN_SERVER_API_KEY)")
    serve.add_argument("--chaos", help='faults for every request, e.g. "error_rate=0.2;status=503;seed=1"')
    serve.add_argument("--max-queue", type=int, default=16, help="requests in flight before 503")
    serve.add_argument("--idle-timeout", type=float, help="exit after this many idle seconds")
    serve.add_argument("--record", action="store_true",
                       help="record port and pid for get_client() (used when started on demand)")
    serve.add_argument("--stop", action="store_true", help="stop the recorded server")
    serve.add_argument("--status", action="store_true", help="print the recorded server, if healthy")
    serve.set_defaults(func=_serve)
    models = sub.add_parser("models", help="install or list the pinned model files")
    models.add_argument("action", choices=["install", "list"], nargs="?", default="list")
    models.set_defaults(func=_models)
