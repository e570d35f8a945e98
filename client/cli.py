"""The `mybox` command: login, ls, info, rm, upload, download (see `mybox --help`)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import threading
from pathlib import Path

import httpx
import msgspec
from rich.console import Console
from rich.table import Table

from client.config import Profile, ResumeStore, config_path, load_profile, save_profile
from client.download import Downloader
from client.models import FileInfo
from client.progress import RichListener, human, make_progress
from client.sdk import ApiError, Client
from client.transfer import Cancelled, TransferError, parse_size
from client.upload import DEFAULT_THRESHOLD, Uploader

out = Console()
err = Console(stderr=True)


# --- helpers ---------------------------------------------------------------------------------
def _client() -> Client:
    url, token = os.environ.get("MYBOX_URL"), os.environ.get("MYBOX_TOKEN")
    if not (url and token):
        profile = load_profile()
        if profile is None:
            raise SystemExit("not signed in: run `mybox login URL` first")
        url, token = url or profile.url, token or profile.token
    return Client(url, token)


def _credentials(args: argparse.Namespace) -> tuple[str, str]:
    username = args.username or input("Username: ").strip()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = args.password or os.environ.get("MYBOX_PASSWORD") or getpass.getpass("Password: ")
    return username, password


def _when(info: FileInfo) -> str:
    t = info.uploaded_at or info.created_at
    return t.astimezone().strftime("%Y-%m-%d %H:%M") if t else ""


def _print_json(obj: object) -> None:
    sys.stdout.write(msgspec.json.encode(obj).decode() + "\n")
    sys.stdout.flush()


# --- accounts --------------------------------------------------------------------------------
def cmd_login(args: argparse.Namespace) -> int:
    username, password = _credentials(args)
    anon = Client(args.url)
    try:
        if args.register:
            anon.register(username, password)
        token = anon.token(username, password)
    finally:
        anon.close()
    path = save_profile(Profile(url=args.url.rstrip("/"), token=token.token, username=username))
    err.print(f"signed in to {args.url} as {username}; token saved in {path} (valid until "
              f"{token.expires_at:%Y-%m-%d})")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    config_path().unlink(missing_ok=True)
    err.print("signed out (token removed from this machine)")
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    with _client() as box:
        me = box.me()
    out.print(f"{me.username} at {box.url}: {me.file_count} files, {human(me.used_bytes)}")
    return 0


# --- files -----------------------------------------------------------------------------------
def cmd_ls(args: argparse.Namespace) -> int:
    with _client() as box:
        if args.all:
            items, footer = list(box.iter_files()), None
        else:
            page = box.list_files(args.page, args.page_size)
            items = page.items
            pages = max(1, -(-(page.total or 0) // args.page_size))
            footer = f"page {args.page} of {pages}, {page.total} files"
            if args.page < pages:
                footer += f" — next: mybox ls --page {args.page + 1}"
    if args.json:
        _print_json(items)
        return 0
    table = Table(show_edge=False, header_style="bold")
    for col, kw in (("ID", {"no_wrap": True}), ("Name", {"overflow": "fold"}), ("Size", {"justify": "right"}),
                    ("Status", {}), ("Tier", {}), ("Uploaded", {"no_wrap": True})):
        table.add_column(col, **kw)
    for f in items:
        table.add_row(f.id, f.name, human(f.size), f.status, f.tier, _when(f))
    out.print(table)
    if footer:
        err.print(footer)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    with _client() as box:
        info = box.file_info(args.id)
    if args.json:
        _print_json(info)
        return 0
    table = Table(show_header=False, show_edge=False)
    for field in info.__struct_fields__:
        value = getattr(info, field)
        table.add_row(field, f"{value} ({human(value)})" if field == "size" else str(value))
    out.print(table)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    with _client() as box:
        for file_id in args.ids:
            box.delete(file_id)
            err.print(f"deleted {file_id}")
    return 0


# --- transfers -------------------------------------------------------------------------------
def _expand(paths: list[str]) -> list[tuple[Path, str]]:
    """(path, name on the server): a folder's files keep their path below the folder's parent."""
    found: list[tuple[Path, str]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            root = p.resolve()
            for f in sorted(root.rglob("*")):
                if f.is_file() and not f.is_symlink():
                    found.append((f, f.relative_to(root.parent).as_posix()))
        elif p.is_file():
            found.append((p, p.name))
        else:
            raise SystemExit(f"no such file or folder: {raw}")
    seen: set[Path] = set()
    return [(f, n) for f, n in found if not (f.resolve() in seen or seen.add(f.resolve()))]


def cmd_upload(args: argparse.Namespace) -> int:
    files = _expand(args.paths)
    total = sum(f.stat().st_size for f, _ in files)
    stop = threading.Event()
    failures = 0
    with _client() as box, make_progress(err) as progress:
        listener = RichListener(progress, total, f"{len(files)} file(s)")
        up = Uploader(box, threshold=args.threshold, parallel=args.parallel, part_size=args.part_size,
                      limit_rate=args.limit_rate, declare_sha256=not args.no_sha256,
                      resume=ResumeStore.beside(config_path()), listener=listener, stop=stop)
        for path, name in files:
            try:
                info = up.upload(path, name)
            except (ApiError, TransferError, httpx.HTTPError, OSError) as exc:
                failures += 1
                progress.console.print(f"[red]failed[/] {name}: {exc}")
                continue
            if args.json:
                _print_json(info)
            else:
                progress.console.print(f"[green]uploaded[/] {name}  {human(info.size)}  {info.id}  {info.status}")
        for note in listener.notes:
            progress.console.print(note)
    if failures:
        err.print(f"{failures} of {len(files)} file(s) failed; run the same command again to resume")
    return 1 if failures else 0


def cmd_download(args: argparse.Namespace) -> int:
    with _client() as box, make_progress(err) as progress:
        info = box.file_info(args.id)
        listener = RichListener(progress, info.size, "total")
        dl = Downloader(box, parallel=args.parallel, chunk_size=args.chunk_size, limit_rate=args.limit_rate,
                        listener=listener)
        dest = dl.download(args.id, Path(args.output) if args.output else None)
        for note in listener.notes:
            progress.console.print(note)
    check = ("sha256 verified" if dl.verified else
             f"sha256 {dl.sha256}; the server has not computed its own yet, so it was not compared")
    err.print(f"saved {dest} ({human(info.size)}, {check})")
    return 0


# --- parser ----------------------------------------------------------------------------------
def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mybox", description="mybox: your self-hosted file store.",
                                epilog="The token is kept in ~/.config/mybox/config.json (MYBOX_CONFIG overrides).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def account(name: str, help_: str, register: bool) -> None:
        s = sub.add_parser(name, help=help_)
        s.add_argument("url", help="the server, e.g. http://127.0.0.1:8000")
        s.add_argument("-u", "--username")
        s.add_argument("-p", "--password", help="(prefer the prompt or --password-stdin)")
        s.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
        s.set_defaults(func=cmd_login, register=register)

    account("login", "sign in and keep a token for later commands", False)
    account("register", "create an account, then sign in", True)
    sub.add_parser("logout", help="forget the saved token").set_defaults(func=cmd_logout)
    sub.add_parser("whoami", help="who is signed in, and storage used").set_defaults(func=cmd_whoami)

    s = sub.add_parser("ls", help="list files, newest first")
    s.add_argument("--page", type=int, default=1)
    s.add_argument("--page-size", type=int, default=20)
    s.add_argument("--all", action="store_true", help="every file, all pages")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_ls)

    s = sub.add_parser("info", help="a file's metadata")
    s.add_argument("id")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("rm", help="delete files")
    s.add_argument("ids", nargs="+", metavar="ID")
    s.set_defaults(func=cmd_rm)

    s = sub.add_parser("upload", help="upload files and folders (interrupted? run it again to resume)")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument("--parallel", type=int, default=4, help="parts in flight per file (default 4)")
    s.add_argument("--threshold", type=_size, default=DEFAULT_THRESHOLD,
                   help="files this big or bigger go multipart (default 64M)")
    s.add_argument("--part-size", type=_size, default=None, help="multipart part size (default: server's)")
    s.add_argument("--limit-rate", type=_size, default=None, help="cap the upload rate, e.g. 10M (per second)")
    s.add_argument("--no-sha256", action="store_true", help="skip hashing before upload (the server hashes later)")
    s.add_argument("--json", action="store_true", help="print each uploaded file's metadata as JSON")
    s.set_defaults(func=cmd_upload)

    s = sub.add_parser("download", help="download a file (interrupted? run it again to resume)")
    s.add_argument("id")
    s.add_argument("-o", "--output", help="file or folder to write (default: the file's name here)")
    s.add_argument("--parallel", type=int, default=4, help="range requests in flight (default 4)")
    s.add_argument("--chunk-size", type=_size, default=8 * 1024 * 1024, help="bytes per range request")
    s.add_argument("--limit-rate", type=_size, default=None, help="cap the download rate, e.g. 10M")
    s.set_defaults(func=cmd_download)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        err.print("\ninterrupted; run the same command again to resume")
        return 130
    except Cancelled:
        err.print("cancelled; run the same command again to resume")
        return 130
    except ApiError as exc:
        err.print(f"error: {exc.message} (HTTP {exc.status})")
        return 1
    except (TransferError, httpx.HTTPError) as exc:
        err.print(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
