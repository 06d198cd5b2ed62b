"""Subcommands. Each module exposes `add_parser(subparsers)` and `run(args) -> int`.

These modules are imported to build `--help`, so they keep heavy imports inside `run`.
"""
