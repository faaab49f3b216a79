"""Web accounts: `python -m services.web.users add|passwd|remove|list|ensure-owner`.

`make up` runs ensure-owner (the first admin, password generated and printed once unless
WEB_OWNER_PASSWORD is set); `make user-add NAME=…` runs add. Passwords are read from the terminal, or
one line of standard input with --password-stdin; never from the command line.
"""

from __future__ import annotations

import argparse
import getpass
import re
import secrets
import sys

from services.shared.settings import USER_NAME_PATTERN, Settings, load_settings_or_exit
from services.web.store import Store, UserExists

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024


class UsageError(ValueError):
    """Bad input; the message names the argument."""


def check_name(name: str) -> str:
    if not re.fullmatch(USER_NAME_PATTERN, name):
        raise UsageError(f"NAME {name!r}: use 1-32 lower-case letters, digits, _ . - (starting with a letter or digit)")
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise UsageError(f"password: {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    if password != password.strip() or "\n" in password:
        raise UsageError("password: no leading/trailing spaces or newlines")
    return password


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return check_password(sys.stdin.readline().rstrip("\n"))
    if not sys.stdin.isatty():
        raise UsageError("--password-stdin: standard input is not a terminal; pass --password-stdin to read it")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise UsageError("password: the two entries differ")
    return check_password(first)


def ensure_owner(settings: Settings, store: Store) -> str:
    """Create the owner account when there is no account yet; the line to print (a password once)."""
    if store.users():
        return f"accounts: {', '.join(u.name for u in store.users())} (make user-add NAME=… adds one)"
    name = check_name(settings.web.owner_name)
    given = settings.web.owner_password
    password = check_password(given.get_secret_value()) if given else secrets.token_urlsafe(15)
    store.add_user(name, password, admin=True)
    if given:
        return f"created the owner account '{name}' with WEB_OWNER_PASSWORD"
    return (
        f"created the owner account '{name}' with password: {password}\n"
        "    (shown only now; change it with `make user-passwd NAME=" + name + "`)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.web.users", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add an account")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--admin", action="store_true", help="may see and end every session and agent")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd = sub.add_parser("passwd", help="set an account's password")
    passwd.add_argument("name", metavar="NAME")
    passwd.add_argument("--password-stdin", action="store_true")
    remove = sub.add_parser("remove", help="remove an account (its logins end at once)")
    remove.add_argument("name", metavar="NAME")
    sub.add_parser("list", help="list accounts")
    sub.add_parser("ensure-owner", help="create the owner account if there is none")
    args = parser.parse_args(argv)
    settings = load_settings_or_exit()
    store = Store.for_settings(settings)
    try:
        if args.command == "list":
            for user in store.users():
                print(f"{user.name}{' (admin)' if user.admin else ''}")
        elif args.command == "ensure-owner":
            print(ensure_owner(settings, store))
        elif args.command == "add":
            name = check_name(args.name)
            if store.user(name) is not None:
                raise UsageError(f"NAME {name!r}: the account exists already (passwd changes its password)")
            store.add_user(name, read_password(args.password_stdin), admin=args.admin)
            print(f"added {'admin ' if args.admin else ''}account '{name}'")
        elif args.command == "passwd":
            name = check_name(args.name)
            if store.user(name) is None:
                raise UsageError(f"NAME {name!r}: no such account")
            store.set_password(name, read_password(args.password_stdin))
            print(f"password of '{name}' changed")
        elif args.command == "remove":
            name = check_name(args.name)
            if not store.remove_user(name):
                raise UsageError(f"NAME {name!r}: no such account")
            print(f"removed account '{name}'")
    except (UsageError, UserExists) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
