"""The accounts store and `python -m services.web.users`: private files, hashes only, clear CLI errors."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from services.web import users
from services.web.store import Store
from tests.unit.test_web_fakes import fast_store, make_settings

pytestmark = pytest.mark.unit


def test_store_is_private_and_keeps_only_hashes(tmp_path: Path) -> None:
    store = fast_store(tmp_path / "web" / "web.db")
    store.add_user("ann", "ann-password-123")
    assert stat.S_IMODE((tmp_path / "web").stat().st_mode) == 0o700
    for f in (tmp_path / "web").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        assert b"ann-password-123" not in f.read_bytes()
    assert store.verify("ann", "ann-password-123") is not None
    assert store.verify("ann", "wrong") is None and store.verify("nobody", "x") is None


def test_hits_are_shared_between_store_objects(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "w.db"), Store(tmp_path / "w.db")
    assert a.hit(["k"], 2, 60)[0] and b.hit(["k"], 2, 60)[0]
    allowed, retry = a.hit(["k"], 2, 60)
    assert not allowed and retry > 0


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    settings = make_settings()
    store = fast_store(tmp_path / "web.db")
    monkeypatch.setattr(users, "load_settings_or_exit", lambda: settings)
    monkeypatch.setattr(users.Store, "for_settings", classmethod(lambda cls, s: store))

    def run(args: list[str], stdin: str = "") -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        return users.main(args)

    return run, store


def test_cli_adds_and_lists(cli, capsys: pytest.CaptureFixture[str]) -> None:
    run, store = cli
    assert run(["add", "ann", "--password-stdin"], "ann-password-123\n") == 0
    assert store.verify("ann", "ann-password-123") is not None
    assert run(["list"]) == 0 and "ann" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "stdin", "named"),
    [
        (["add", "Ann Smith", "--password-stdin"], "ann-password-123\n", "NAME"),
        (["add", "ann", "--password-stdin"], "short\n", "password"),
        (["add", "ann", "--password-stdin"], "\n", "password"),
        (["add", "ann"], "", "--password-stdin"),  # not a terminal and no --password-stdin
        (["passwd", "nobody", "--password-stdin"], "ann-password-123\n", "NAME"),
        (["remove", "nobody"], "", "NAME"),
    ],
)
def test_cli_bad_input_names_the_argument(cli, capsys: pytest.CaptureFixture[str], args, stdin, named) -> None:
    run, _ = cli
    assert run(args, stdin) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and named in err and "Traceback" not in err


def test_cli_refuses_a_second_account_of_the_same_name(cli, capsys: pytest.CaptureFixture[str]) -> None:
    run, _ = cli
    assert run(["add", "ann", "--password-stdin"], "ann-password-123\n") == 0
    assert run(["add", "ann", "--password-stdin"], "ann-password-456\n") == 2
    assert "exists" in capsys.readouterr().err


def test_ensure_owner_shows_the_generated_password_once(tmp_path: Path) -> None:
    store = fast_store(tmp_path / "web.db")
    first = users.ensure_owner(make_settings(), store)
    password = first.split("password: ")[1].split()[0]
    assert store.verify("owner", password) is not None and store.verify("owner", password).admin
    second = users.ensure_owner(make_settings(), store)
    assert password not in second and "owner" in second
