"""`telering-keys`: make, list and retire grant keys."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from protocol.keys import add_key, fingerprint, read_key_file, retire_oldest
from protocol.settings import Settings


def main(argv: list[str] | None = None) -> int:
    default_file = Settings().telering_keys_file
    file_help = f"key file (one key a line, newest last; default TELERING_KEYS_FILE={default_file})"
    parser = argparse.ArgumentParser(prog="telering-keys", description=__doc__)
    parser.add_argument("--file", type=Path, default=default_file, help=file_help)
    # `--file` is accepted after the command too: `telering-keys new --file x.keys`
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--file", type=Path, default=argparse.SUPPRESS, help=file_help)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("new", parents=[common], help="append a new signing key (creates the file, mode 0600)")
    sub.add_parser("ensure", parents=[common], help="create the file with one key unless it already holds one")
    sub.add_parser("list", parents=[common], help="print the fingerprint of each key, oldest first")
    sub.add_parser(
        "retire", parents=[common], help="drop the oldest key (after every part verifies with the newer one)"
    )
    args = parser.parse_args(argv)

    path: Path = args.file
    if args.command == "ensure" and path.exists() and read_key_file(path):
        print(f"{path}: already holds {len(read_key_file(path))} key(s)")
        return 0
    if args.command in ("new", "ensure"):
        key = add_key(path)
        print(f"{path}: added key {fingerprint(key)} (now the signing key)")
    elif args.command == "list":
        if not path.exists():
            print(f"{path}: no such file; run `telering-keys new --file {path}`", file=sys.stderr)
            return 1
        for i, key in enumerate(read_key_file(path)):
            print(f"{i} {fingerprint(key)}")
    elif args.command == "retire":
        try:
            key = retire_oldest(path)
        except (ValueError, FileNotFoundError) as exc:
            print(f"telering-keys: {exc}", file=sys.stderr)
            return 1
        print(f"{path}: retired key {fingerprint(key)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
