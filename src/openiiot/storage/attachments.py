"""Attachment stores: files in the data directory (the platform), or a dict (tests of services)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from openiiot.domain.errors import NotFound

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class FileAttachmentStore:
    """One file per attachment under `root/<first two chars>/<id>`, written atomically (temp + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, attachment_id: str) -> Path:
        if not _ID_RE.match(attachment_id):  # ids are generated; never a user-supplied path
            raise NotFound("attachment", attachment_id)
        return self.root / attachment_id[:2] / attachment_id

    def put(self, attachment_id: str, data: bytes) -> None:
        """Store the bytes."""
        path = self._path(attachment_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def get(self, attachment_id: str) -> bytes:
        """The bytes, or NotFound."""
        path = self._path(attachment_id)
        if not path.is_file():
            raise NotFound("attachment", attachment_id)
        return path.read_bytes()


class MemoryAttachmentStore:
    """Attachments in a dict."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}

    def put(self, attachment_id: str, data: bytes) -> None:
        """Store the bytes."""
        self._files[attachment_id] = bytes(data)

    def get(self, attachment_id: str) -> bytes:
        """The bytes, or NotFound."""
        if attachment_id not in self._files:
            raise NotFound("attachment", attachment_id)
        return self._files[attachment_id]
