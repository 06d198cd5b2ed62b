"""`hftui download`: placeholder until its issue lands."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return subparsers.add_parser("download", help="(not implemented yet)")


def run(args: argparse.Namespace) -> int:
    print("hftui download: not implemented yet")
    return 2
