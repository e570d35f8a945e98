"""mybox client: the SDK (`Client`) and the `mybox` command line (client.cli).

    from client import Client

    with Client.login("http://127.0.0.1:8000", "alice", "correct-horse-1") as box:
        info = box.upload("holiday.mp4", parallel=4)   # resumable; sha256 declared
        print(info.id, info.status)
        box.download(info.id, "copy.mp4")              # parallel ranges, sha256 checked
"""

from client.models import FileInfo, FilePage
from client.sdk import ApiError, Client, Retry
from client.transfer import Listener, TransferError

__all__ = ["ApiError", "Client", "FileInfo", "FilePage", "Listener", "Retry", "TransferError"]
