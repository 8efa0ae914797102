"""Upload a large local file in parts (the command-line route for files over 5 GB).

The browser upload is limited to 5 GB, as in OBS; this streams any size: on S3
each part (``part_size``, default 64 MiB) is one UploadPart request and the
object appears only when CompleteMultipartUpload succeeds, so a failed upload
leaves nothing behind. On the local backend the file is copied through a temp
file and renamed into place.
"""

from __future__ import annotations

import os

from .backends.base import DEFAULT_PART_SIZE, ProgressCallback, StorageBackend


def upload_file(
    backend: StorageBackend,
    local_path: str | os.PathLike,
    key: str,
    *,
    part_size: int = DEFAULT_PART_SIZE,
    progress: ProgressCallback | None = None,
) -> int:
    """Stream ``local_path`` to ``key``; ``progress(bytes_done, total)`` after each part.

    Returns the bytes stored. The size is taken when the file is opened; a file
    that grows or shrinks meanwhile is refused (SizeMismatch) rather than stored torn.
    """
    with open(local_path, "rb") as source:
        total = os.fstat(source.fileno()).st_size
        if progress:
            progress(0, total)
        return backend.write_stream(key, source, size=total, part_size=part_size, progress=progress)
