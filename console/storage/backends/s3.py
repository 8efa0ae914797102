"""A bucket on an S3-compatible service (Huawei OBS, AWS S3, MinIO) through boto3.

Folders are key prefixes ending in ``/``; ``mkdir`` writes a zero-byte ``key/``
marker so an empty folder exists (as the OBS console does). Listings use
``Delimiter="/"``. Reads of part of a file use a ``Range`` header, so a weight
check fetches tensor headers, never tensor bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ..paths import PathError, folder_key, validate_key
from .base import (
    DEFAULT_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    Entry,
    FolderNotEmpty,
    ObjectNotFound,
    ProgressCallback,
    SizeMismatch,
    StorageBackend,
    StorageError,
    check_range,
    file_key,
    read_exact,
    sort_entries,
)

_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_DELETE_BATCH = 1000  # DeleteObjects' limit


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Backend(StorageBackend):
    """One bucket (optionally a ``prefix`` inside it) on an S3-compatible endpoint.

    ``bytes_fetched`` counts body bytes received by ``read_range``, as the server
    sent them, so a test or benchmark can prove only the requested range travelled.
    """

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str | None = None,
        prefix: str = "",
        *,
        addressing_style: str = "path",
        connect_timeout: float = 10,
        read_timeout: float = 60,
        max_attempts: int = 3,
    ):
        if not bucket:
            raise ValueError("an S3 backend needs a bucket name")
        self.bucket = bucket
        self.prefix = folder_key(prefix)
        self.endpoint_url = endpoint_url
        self.bytes_fetched = 0
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": addressing_style},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            # botocore >= 1.36 adds CRC checksums to every upload by default; OBS and
            # older MinIO refuse them. Only send checksums where the API demands one.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            region_name=region or None,
            config=config,
        )

    def __repr__(self) -> str:
        return f"S3Backend({self.bucket!r}, endpoint_url={self.endpoint_url!r}, prefix={self.prefix!r})"

    def _full(self, key: str) -> str:
        return self.prefix + key

    def _relative(self, full_key: str) -> str:
        return full_key[len(self.prefix) :]

    def _pages(self, full_prefix: str, *, delimiter: bool) -> Iterator[dict]:
        kwargs = {"Bucket": self.bucket, "Prefix": full_prefix}
        if delimiter:
            kwargs["Delimiter"] = "/"
        yield from self.client.get_paginator("list_objects_v2").paginate(**kwargs)

    def _has_any(self, full_prefix: str) -> bool:
        response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=full_prefix, MaxKeys=1)
        return response.get("KeyCount", 0) > 0

    # -- reading -----------------------------------------------------------

    def list_dir(self, key_prefix: str = "") -> list[Entry]:
        folder = folder_key(key_prefix)
        full = self._full(folder)
        entries: list[Entry] = []
        seen_anything = False
        for page in self._pages(full, delimiter=True):
            for common in page.get("CommonPrefixes", []):
                seen_anything = True
                key = self._relative(common["Prefix"])
                if _addressable(key):
                    entries.append(Entry(key[len(folder) : -1], key, True, 0, None))
            for obj in page.get("Contents", []):
                seen_anything = True
                if obj["Key"] == full:
                    continue  # the folder's own marker
                key = self._relative(obj["Key"])
                if _addressable(key):
                    entries.append(Entry(key[len(folder) :], key, False, obj["Size"], obj["LastModified"]))
        if folder and not seen_anything:
            raise ObjectNotFound(f"folder not found: {folder}")
        return sort_entries(entries)

    def stat(self, key: str) -> Entry | None:
        validate_key(key)
        if key == "":
            return Entry("", "", True, 0, None)
        name = key.rstrip("/").rpartition("/")[2]
        if not key.endswith("/"):
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=self._full(key))
            except ClientError as exc:
                if _error_code(exc) not in _NOT_FOUND_CODES:
                    raise
            else:
                return Entry(name, key, False, head["ContentLength"], head["LastModified"])
        folder = folder_key(key)
        if self._has_any(self._full(folder)):
            return Entry(name, folder, True, 0, None)
        return None

    def _file_exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._full(key))
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                return False
            raise
        return True

    def _get(self, key: str, **kwargs) -> dict:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._full(key), **kwargs)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise ObjectNotFound(f"file not found: {key}") from None
            raise

    def open_read(self, key: str) -> BinaryIO:
        return self._get(file_key(key))["Body"]

    def read_range(self, key: str, start: int, length: int | None = None) -> bytes:
        check_range(start, length)
        file_key(key)
        if length == 0:
            return b""
        end = "" if length is None else str(start + length - 1)
        try:
            response = self._get(key, Range=f"bytes={start}-{end}")
        except ClientError as exc:
            if _error_code(exc) == "InvalidRange":
                return b""  # start is at or past the end of the file
            raise
        with response["Body"] as body:
            data = body.read()
        self.bytes_fetched += len(data)
        if "ContentRange" not in response:
            # A server that ignored Range sent the whole object; keep the contract.
            data = data[start:] if length is None else data[start : start + length]
        return data

    def walk(self, prefix: str = "") -> Iterator[Entry]:
        folder = folder_key(prefix)
        for page in self._pages(self._full(folder), delimiter=False):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith("/"):
                    continue  # folder markers
                key = self._relative(obj["Key"])
                if _addressable(key):
                    name = key.rpartition("/")[2]
                    yield Entry(name, key, False, obj["Size"], obj["LastModified"])

    # -- writing -----------------------------------------------------------

    def write_stream(
        self,
        key: str,
        fileobj: BinaryIO,
        *,
        size: int | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        progress: ProgressCallback | None = None,
    ) -> int:
        file_key(key)
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        if size is not None:
            part_size = max(part_size, math.ceil(size / MAX_PARTS))
        first = read_exact(fileobj, part_size)
        if len(first) < part_size:
            # Fits in one request; put_object is atomic on the server.
            _check_size(key, len(first), size, final=True)
            self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=first)
            if progress:
                progress(len(first), size)
            return len(first)
        return self._multipart(key, fileobj, first, size, part_size, progress)

    def _multipart(self, key, fileobj, first, size, part_size, progress) -> int:
        full = self._full(key)
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=full)["UploadId"]
        try:
            parts = []
            done = 0
            data = first
            while data:
                number = len(parts) + 1
                if number > MAX_PARTS:
                    raise StorageError(f"{key}: more than {MAX_PARTS} parts; use a larger part size")
                response = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=full,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                )
                parts.append({"ETag": response["ETag"], "PartNumber": number})
                done += len(data)
                _check_size(key, done, size, final=False)
                if progress:
                    progress(done, size)
                data = read_exact(fileobj, part_size)
            _check_size(key, done, size, final=True)
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=full,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            # An unfinished upload is invisible but billed: always abort it.
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
            except Exception:
                pass
            raise
        return done

    def mkdir(self, key: str) -> None:
        folder = folder_key(key)
        if folder:
            self.client.put_object(Bucket=self.bucket, Key=self._full(folder), Body=b"")

    def delete(self, key: str) -> bool:
        if validate_key(key) == "":
            raise ValueError("the bucket root cannot be deleted")
        if not key.endswith("/") and self._file_exists(key):
            self.client.delete_object(Bucket=self.bucket, Key=self._full(key))
            return True
        marker = self._full(folder_key(key))
        response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=marker, MaxKeys=2)
        keys = [obj["Key"] for obj in response.get("Contents", [])]
        if any(k != marker for k in keys):
            raise FolderNotEmpty(f"folder is not empty: {folder_key(key)}")
        if marker in keys:
            self.client.delete_object(Bucket=self.bucket, Key=marker)
            return True
        return False

    def delete_prefix(self, prefix: str) -> int:
        folder = folder_key(prefix)
        if folder == "":
            raise ValueError("refusing to delete the whole bucket")
        count = 0
        for page in self._pages(self._full(folder), delimiter=False):
            keys = [obj["Key"] for obj in page.get("Contents", [])]
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = keys[start : start + _DELETE_BATCH]
                response = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
                if errors := response.get("Errors"):
                    first = errors[0]
                    raise StorageError(
                        f"could not delete {len(errors)} object(s), "
                        f"first {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                    )
                count += sum(1 for k in batch if not k.endswith("/"))
        return count


def _addressable(key: str) -> bool:
    """Whether a key written by some other tool is one we can hand to users.

    Keys such as "a//b" or "../x" are legal in S3 but not as console paths; they
    are left out of listings rather than shown and then refused.
    """
    try:
        validate_key(key)
    except PathError:
        return False
    return True


def _check_size(key: str, done: int, size: int | None, *, final: bool) -> None:
    if size is None:
        return
    if done > size or (final and done != size):
        raise SizeMismatch(f"{key}: got {done} bytes, {size} were announced")
