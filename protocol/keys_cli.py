"""`telering-keys`: make, list and retire grant keys; make, list and revoke reader tokens."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from protocol import reader_tokens
from protocol.keys import add_key, fingerprint, read_key_file, retire_oldest
from protocol.settings import Settings


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    default_file = settings.telering_keys_file
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
    _add_reader_commands(sub, settings.telering_readers_file)
    args = parser.parse_args(argv)
    if args.command == "reader":
        return _reader(args)

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


def _add_reader_commands(sub: argparse._SubParsersAction, default: Path) -> None:
    reader = sub.add_parser(
        "reader",
        help="reader tokens for the read API and the live socket",
        description="Reader tokens, kept hashed (SHA-256) in TELERING_READERS_FILE; the web node "
        "reloads the file within a second of a change.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--file",
        dest="readers_file",
        type=Path,
        default=default,
        help=f"readers file (TELERING_READERS_FILE={default})",
    )
    named = argparse.ArgumentParser(add_help=False, parents=[common])
    named.add_argument("--name", required=True, help="the reader's name (letters, digits, _ . @ -)")
    actions = reader.add_subparsers(dest="action", required=True)
    actions.add_parser("new", parents=[named], help="make a reader; prints its token once, as the last line")
    actions.add_parser("list", parents=[common], help="print every reader's name (never a token)")
    actions.add_parser("revoke", parents=[named], help="delete a reader: its token stops working within a second")


def _reader(args: argparse.Namespace) -> int:
    path: Path = args.readers_file
    try:
        if args.action == "new":
            token = reader_tokens.add_reader(path, args.name)
            print(f"{path}: added reader {args.name!r}; its token, shown only now:")
            print(token)
        elif args.action == "list":
            for name in sorted(reader_tokens.read_readers(path)):
                print(name)
        else:
            reader_tokens.revoke_reader(path, args.name)
            print(f"{path}: revoked reader {args.name!r}")
    except (reader_tokens.ReadersError, OSError) as exc:
        print(f"telering-keys: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
