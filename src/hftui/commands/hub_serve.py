"""`hftui hub-serve`: run the local Hub server over a spec file (or the demo repos) until Ctrl-C."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "hub-serve",
        help="serve repos from a spec file as a local Hugging Face Hub (for tests and offline demos)",
        description=(
            "Serve the repos described in a JSON or TOML spec over the part of the Hub HTTP API that "
            "huggingface_hub downloads with. Without --spec, serve the built-in demo repos."
        ),
    )
    parser.add_argument(
        "--spec", metavar="FILE", help="JSON or TOML spec of the repos to serve (default: demo repos)"
    )
    parser.add_argument(
        "--port", type=int, default=0, metavar="N", help="port to listen on (default: a free one)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", metavar="HOST", help="address to bind (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--lfs-redirect",
        action="store_true",
        help="answer plain-LFS files with a same-origin 302 to a content URL, as the real Hub does",
    )
    parser.add_argument(
        "--no-xet",
        action="store_true",
        help="serve every file over plain HTTP (default: LFS files over Xet, like the real Hub)",
    )
    parser.add_argument(
        "--cas-port",
        type=int,
        default=0,
        metavar="N",
        help="port of the Xet CAS server (default: a free one)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from hftui.hub import HubServer, SpecError, load_spec
    from hftui.hub.demo import demo_spec

    for flag, port in (("--port", args.port), ("--cas-port", args.cas_port)):
        if not 0 <= port <= 65535:
            return _fail(f"{flag} must be between 0 and 65535 (got {port})")
    try:
        spec = load_spec(args.spec if args.spec else demo_spec())
    except SpecError as exc:
        return _fail(str(exc))
    try:
        server = HubServer(
            spec,
            host=args.host,
            port=args.port,
            lfs_redirect=args.lfs_redirect,
            xet=False if args.no_xet else None,
            cas_port=args.cas_port,
        ).start()
    except OSError as exc:
        return _fail(
            f"cannot listen on {args.host} (ports {args.port}, {args.cas_port}): {exc.strerror or exc}"
        )
    from hftui.core import vocab

    repos = ", ".join(f"{repo.id} ({repo.type})" for repo in spec.repos.values())
    print(f"Local Hub serving {vocab.count(len(spec.repos), 'repo')} at {server.endpoint}", flush=True)
    print(f"  repos: {repos}")
    print(f"  token for gated/private repos: {spec.token}")
    print(f"  use it: HF_ENDPOINT={server.endpoint} hf download <repo_id>   (Ctrl-C to stop)", flush=True)
    if server.xet:
        print(
            f"  Xet: LFS files come from the CAS at {server.cas_endpoint} "
            "(HF_HUB_DISABLE_XET=1: plain bytes through its bridge)",
            flush=True,
        )
    else:
        print("  Xet: off, every file over plain HTTP", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _fail(message: str) -> int:
    print(f"hftui: error: {message}", file=sys.stderr)
    return 2
