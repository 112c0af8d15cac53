"""Uploaded files: written only inside the index's upload folder, under a sanitised name.

A browser sends whatever file name it likes ("../../.bashrc", "CON", a name full of control
characters). The name is reduced to a safe base name; the bytes are copied with a size limit;
nothing is written outside `folder`, and an existing upload of the same name is replaced, which
re-ingest then treats as an update.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from pathlib import Path

_UNSAFE = re.compile(r"[^\w.\- ]+")


class UploadError(ValueError):
    """An upload that was refused; the message names the file and the reason."""


def safe_name(name: str) -> str:
    """A base name that cannot leave its folder or hide.

    >>> safe_name("../../etc/passwd"), safe_name("..\\\\evil.md"), safe_name(".bashrc")
    ('passwd', 'evil.md', 'bashrc')
    >>> safe_name("notes: draft?.txt"), safe_name("\\x00"), safe_name("Ünïcode ok.md")
    ('notes_ draft_.txt', 'upload', 'Ünïcode ok.md')
    """
    base = unicodedata.normalize("NFC", name).replace("\\", "/").split("/")[-1]
    base = _UNSAFE.sub("_", base).strip(" ._")
    return base[:150] or "upload"


def save_upload(source: Path, name: str, folder: Path, max_bytes: int) -> Path:
    """Copy an uploaded temporary file into `folder` as `safe_name(name)`."""
    size = os.path.getsize(source)
    if size > max_bytes:
        raise UploadError(
            f"{name}: {size / 1e6:.1f} MB is over the upload limit of {max_bytes / 1e6:.0f} MB"
        )
    folder.mkdir(parents=True, exist_ok=True)
    target = (folder / safe_name(name)).resolve()
    if target.parent != folder.resolve():
        raise UploadError(f"{name}: not a usable file name")
    tmp = target.with_name(f".{target.name}.partial")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return target
