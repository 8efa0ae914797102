"""OBS-style object paths: ``obs://bucket/a/b/`` (UI) and ``/bucket/a/b/`` (API).

Every path a user types, and every key a backend is handed, passes the rules
here, so a path can never leave its bucket whatever the backend does with it.
The rules are deliberately strict (no ``.``/``..`` segments, no doubled slashes,
no backslashes, no control characters, no percent-encoded separators): a key
that means the same thing to S3, to the local filesystem and to a browser is
the only kind we accept.

Django-free: errors carry a stable ``code`` and an English ``message`` so the
web layer can translate by code.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

MAX_KEY_BYTES = 1024  # S3's (and OBS's) limit for an object key, in UTF-8 bytes.
# One file or folder name, in UTF-8 bytes: what local filesystems hold (NAME_MAX). S3 would
# take longer ones, but a key must mean the same thing to every backend (and a local bucket
# answered ENAMETOOLONG, a 500, for a longer one).
MAX_NAME_BYTES = 255

# English messages by code. ``{name}`` placeholders are filled from PathError.params.
PATH_ERROR_MESSAGES: dict[str, str] = {
    "path_empty": "The path is empty. Enter a path such as obs://bucket/folder/.",
    "path_form": (
        "The path must start with obs:// (for example obs://bucket/folder/) or with / (for example /bucket/folder/)."
    ),
    "path_no_bucket": "The path names no bucket. Enter a path such as obs://bucket/folder/.",
    "path_bad_bucket": (
        'The bucket name "{bucket}" is invalid: a bucket name has 3 to 63 characters '
        "(lowercase letters, digits, hyphens and periods), starts and ends with a letter "
        "or digit, has no two periods or a period and a hyphen side by side, and is not "
        "an IP address."
    ),
    "path_escape": (
        "The path leaves its bucket: '..' segments, and links that point outside the bucket, are not allowed."
    ),
    "path_dot_segment": "The path may not contain '.' segments (such as a/./b).",
    "path_backslash": "The path may not contain backslashes (\\); use / to separate folders.",
    "path_nul": "The path may not contain NUL characters.",
    "path_control": ("The path may not contain control characters (such as tab, newline or text-direction marks)."),
    "path_encoding": "The path is not valid UTF-8 text.",
    "path_encoded": (
        "The path contains the percent-encoded sequence {sequence}, which would change "
        "its meaning once decoded (encoded slashes, dots, backslashes, percent signs or "
        "control characters are not allowed). Write the path without percent-encoding."
    ),
    "path_lookalike": (
        "The path contains the character {char!r}, which stands for a dot or a slash in "
        "some systems; rename the file or folder."
    ),
    "path_double_slash": (
        "The path may not contain empty folder names: no doubled slashes (//) and no absolute path inside the bucket."
    ),
    "path_too_long": ("The object key is {length} bytes long; at most {limit} bytes (UTF-8) are allowed."),
    "path_name_too_long": (
        "The name {shown} is {length} bytes long; a file or folder name may have at most {limit} bytes (UTF-8)."
    ),
    "path_not_folder": "The path {path} is a file; a folder path ending with / is needed here.",
    "path_bad_name": "The name {name!r} is not a single file or folder name.",
}


class PathError(ValueError):
    """A path or key broke one of the rules. ``code`` is stable, ``message`` English."""

    def __init__(self, code: str, **params):
        self.code = code
        self.params = params
        self.message = PATH_ERROR_MESSAGES[code].format(**params)
        super().__init__(self.message)


_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PERCENT_RUN_RE = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_PERCENT_U_RE = re.compile(r"%[uU][0-9A-Fa-f]{4}")
# Bidirectional overrides/isolates: they make "gpj.exe" display as "exe.jpg".
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def validate_bucket(bucket: str) -> str:
    if not _BUCKET_RE.match(bucket) or ".." in bucket or ".-" in bucket or "-." in bucket or _looks_like_ip(bucket):
        raise PathError("path_bad_bucket", bucket=bucket)
    return bucket


def _looks_like_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check_characters(text: str) -> None:
    """Characters refused anywhere in a path, before it is even split."""
    if "\x00" in text:
        raise PathError("path_nul")
    for char in text:
        if unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS:
            raise PathError("path_control")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates: what os.fsdecode makes of undecodable file names.
        raise PathError("path_encoding") from None


def _check_percent_encoding(key: str) -> None:
    # Decoding once must not change what the key means: an escape may stand for an
    # ordinary character (%20 -> space is fine), never for a separator, a dot, a
    # percent sign (double encoding) or a control character.
    if match := _PERCENT_U_RE.search(key):
        raise PathError("path_encoded", sequence=match.group(0))
    for match in _PERCENT_RUN_RE.finditer(key):
        sequence = match.group(0)
        try:
            decoded = unquote(sequence, errors="strict")
        except UnicodeDecodeError:
            # Invalid UTF-8 such as the overlong %c0%ae ("." to some decoders).
            raise PathError("path_encoded", sequence=sequence) from None
        for char in decoded:
            if (
                char in "/\\.%"
                or unicodedata.category(char) == "Cc"
                or char in _BIDI_CONTROLS
                or unicodedata.normalize("NFKC", char) in ("/", "\\", ".")
            ):
                raise PathError("path_encoded", sequence=sequence)


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is a safe object key inside a bucket.

    ``""`` is the bucket root; a key ending in ``/`` is a folder.
    """
    if not isinstance(key, str):
        raise TypeError(f"an object key must be a str, not {type(key).__name__}")
    if key == "":
        return key
    _check_characters(key)
    if "\\" in key:
        raise PathError("path_backslash")
    _check_percent_encoding(key)
    segments = key.split("/")
    if key.endswith("/"):
        segments.pop()  # the empty name after a folder's trailing slash
    for segment in segments:
        if segment == "":
            raise PathError("path_double_slash")
        if segment == "..":
            raise PathError("path_escape")
        if segment == ".":
            raise PathError("path_dot_segment")
        folded = unicodedata.normalize("NFKC", segment)
        if folded in (".", ".."):
            raise PathError("path_escape")
        for char in segment:
            if unicodedata.normalize("NFKC", char) in ("/", "\\"):
                raise PathError("path_lookalike", char=char)
    length = len(key.encode("utf-8"))
    if length > MAX_KEY_BYTES:
        raise PathError("path_too_long", length=length, limit=MAX_KEY_BYTES)
    for segment in segments:
        name_length = len(segment.encode("utf-8"))
        if name_length > MAX_NAME_BYTES:
            raise PathError("path_name_too_long", shown=_shortened(segment), length=name_length, limit=MAX_NAME_BYTES)
    return key


def _shortened(name: str, keep: int = 24) -> str:
    """A long name as the messages show it: its start and end ("aaaa…aaaa"), quoted."""
    shown = name if len(name) <= 2 * keep + 1 else f"{name[:keep]}…{name[-keep:]}"
    return f'"{shown}"'


def validate_name(name: str) -> str:
    """A single file or folder name (no ``/``), as used by ``ObsPath.child``."""
    if not isinstance(name, str):
        raise PathError("path_bad_name", name=name)
    bare = name[:-1] if name.endswith("/") else name
    if bare == "" or "/" in bare:
        raise PathError("path_bad_name", name=name)
    validate_key(name)
    return name


def folder_key(key: str) -> str:
    """``key`` as a folder key: ``""`` stays the root, otherwise it ends with ``/``."""
    validate_key(key)
    return key if key == "" or key.endswith("/") else key + "/"


@dataclass(frozen=True)
class ObsPath:
    """A validated location: a bucket and a key inside it (``""`` = bucket root)."""

    bucket: str
    key: str = ""

    def __post_init__(self):
        validate_bucket(self.bucket)
        validate_key(self.key)

    @property
    def is_folder(self) -> bool:
        return self.key == "" or self.key.endswith("/")

    @property
    def uri(self) -> str:
        return f"obs://{self.bucket}/{self.key}"

    @property
    def api(self) -> str:
        return f"/{self.bucket}/{self.key}"

    @property
    def name(self) -> str:
        """The last segment without its trailing slash; ``""`` for the bucket root."""
        return self.key.rstrip("/").rpartition("/")[2]

    def child(self, name: str) -> ObsPath:
        """``name`` inside this folder; end ``name`` with ``/`` for a sub-folder."""
        if not self.is_folder:
            raise PathError("path_not_folder", path=self.uri)
        validate_name(name)
        return ObsPath(self.bucket, self.key + name)

    @property
    def parent(self) -> ObsPath:
        """The folder holding this path; the bucket root is its own parent."""
        if self.key == "":
            return self
        head, _, _ = self.key.rstrip("/").rpartition("/")
        return ObsPath(self.bucket, head + "/" if head else "")

    def __str__(self) -> str:
        return self.uri


def parse_obs_path(text: str) -> ObsPath:
    """Parse ``obs://bucket/key`` or ``/bucket/key``; raise PathError naming the rule."""
    if not isinstance(text, str) or text == "":
        raise PathError("path_empty")
    _check_characters(text)
    if text[:6].lower() == "obs://":
        rest = text[6:]
    elif text.startswith("/"):
        rest = text[1:]
    else:
        raise PathError("path_form")
    bucket, _, key = rest.partition("/")
    if bucket == "":
        if "\\" in rest:
            raise PathError("path_backslash")
        raise PathError("path_no_bucket")
    if "\\" in bucket:
        raise PathError("path_backslash")
    validate_bucket(bucket)
    return ObsPath(bucket, validate_key(key))
