"""The `mybox` CLI against the real stack (a live API process): accounts, listing, info, delete,
small and folder uploads. Transfers with interruption and resume are in test_cli_transfer.py."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
from pathlib import Path

import httpx
import pytest

from client.config import ResumeStore
from client.download import safe_filename
from client.transfer import parse_size
from tests.integration.cli_support import mybox


@pytest.fixture
def account(live_server, tmp_path):
    """A fresh user signed in through `mybox register`; yields (config path, username, password)."""
    config = tmp_path / "cfg" / "config.json"
    username, password = f"cli{secrets.token_hex(5)}", "correct-horse-1"
    r = mybox(config, "register", live_server.url, "-u", username, "--password-stdin", input=password + "\n")
    assert r.returncode == 0, r.stderr
    return config, username, password


def test_login_stores_token_privately(live_server, account, tmp_path):
    config, username, password = account
    saved = json.loads(config.read_text())
    assert saved["url"] == live_server.url and saved["username"] == username and len(saved["token"]) > 20
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert password not in config.read_text()
    me = httpx.get(live_server.url + "/me", headers={"Authorization": f"Bearer {saved['token']}"})
    assert me.status_code == 200 and me.json()["username"] == username

    who = mybox(config, "whoami")
    assert who.returncode == 0 and username in who.stdout and "0 files" in who.stdout

    # a second login on another config, with the password as a flag, gets its own token
    other = tmp_path / "other.json"
    r = mybox(other, "login", live_server.url, "-u", username, "-p", password)
    assert r.returncode == 0, r.stderr
    assert json.loads(other.read_text())["token"] != saved["token"]

    bad = mybox(tmp_path / "bad.json", "login", live_server.url, "-u", username, "-p", "wrong-password")
    assert bad.returncode == 1 and "HTTP 401" in bad.stderr and not (tmp_path / "bad.json").exists()

    assert mybox(config, "logout").returncode == 0 and not config.exists()
    r = mybox(config, "ls")
    assert r.returncode != 0 and "mybox login" in r.stderr


def test_upload_ls_info_rm(live_server, account, tmp_path):
    config, _, _ = account
    small = tmp_path / "notes é.txt"
    small.write_bytes(b"hello mybox\n" * 1000)
    folder = tmp_path / "photos"
    (folder / "2024").mkdir(parents=True)
    (folder / "a.bin").write_bytes(os.urandom(3000))
    (folder / "2024" / "b.bin").write_bytes(os.urandom(5000))

    r = mybox(config, "upload", str(small), str(folder), "--json")
    assert r.returncode == 0, r.stderr
    uploaded = [json.loads(line) for line in r.stdout.splitlines()]
    assert [u["name"] for u in uploaded] == ["notes é.txt", "photos/2024/b.bin", "photos/a.bin"]
    assert all(u["status"] == "available" for u in uploaded)
    assert uploaded[0]["sha256"] == hashlib.sha256(small.read_bytes()).hexdigest()
    assert uploaded[1]["size"] == 5000

    listed = json.loads(mybox(config, "ls", "--json").stdout)
    assert [f["id"] for f in listed] == [u["id"] for u in reversed(uploaded)]  # newest first

    table = mybox(config, "ls", "--page-size", "2")
    assert table.returncode == 0
    assert "photos/a.bin" in table.stdout and "notes é.txt" not in table.stdout
    assert "page 1 of 2, 3 files" in table.stderr and "--page 2" in table.stderr
    page2 = mybox(config, "ls", "--page-size", "2", "--page", "2")
    assert "notes é.txt" in page2.stdout and "photos/a.bin" not in page2.stdout
    assert len(json.loads(mybox(config, "ls", "--all", "--json").stdout)) == 3

    info = mybox(config, "info", uploaded[0]["id"])
    assert info.returncode == 0 and "notes é.txt" in info.stdout and uploaded[0]["sha256"] in info.stdout

    r = mybox(config, "rm", uploaded[0]["id"])
    assert r.returncode == 0
    assert [f["name"] for f in json.loads(mybox(config, "ls", "--json").stdout)] == ["photos/a.bin", "photos/2024/b.bin"]
    gone = mybox(config, "info", uploaded[0]["id"])
    assert gone.returncode == 1 and "HTTP 404" in gone.stderr


def test_missing_path_and_bad_flags(live_server, account, tmp_path):
    config, _, _ = account
    r = mybox(config, "upload", str(tmp_path / "nope"))
    assert r.returncode != 0 and "no such file" in r.stderr
    r = mybox(config, "upload", str(tmp_path), "--threshold", "lots")
    assert r.returncode == 2 and "not a size" in r.stderr


def test_helpers():
    assert parse_size("64M") == 64 << 20 and parse_size("1.5GiB") == 3 << 29 and parse_size("512k") == 512 << 10
    assert parse_size("1000") == 1000
    with pytest.raises(ValueError):
        parse_size("ten")
    assert safe_filename("../../etc/passwd") == "_.._etc_passwd"
    assert safe_filename("a/b\x00c.txt") == "a_b_c.txt" and safe_filename("...") == "download"
    assert safe_filename("日本語 ファイル.mp4") == "日本語 ファイル.mp4"


def test_resume_store(tmp_path):
    store = ResumeStore(tmp_path / "uploads.json")
    f = tmp_path / "x"
    f.write_bytes(b"1")
    key = ResumeStore.key("http://h/", f, 1, 5)
    assert key == ResumeStore.key("http://h", f, 1, 5) and key != ResumeStore.key("http://h", f, 1, 6)
    store.put(key, {"fileId": "abc"})
    assert store.get(key)["fileId"] == "abc"
    assert stat.S_IMODE(Path(store.path).stat().st_mode) == 0o600
    store.remove(key)
    assert store.get(key) is None
