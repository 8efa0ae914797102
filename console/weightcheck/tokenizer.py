"""Rule 7: does the tokenizer load?

transformers-native templates: the small tokenizer/config files are copied out of
the folder (never ``*.py``, never weights, each size-capped) into a private
temporary folder and loaded with ``AutoTokenizer.from_pretrained(...,
trust_remote_code=False, local_files_only=True)``.

Remote-code families cannot load through AutoTokenizer without their code, so
the published vocabulary file is checked with the library that reads it, without
the folder's code: SentencePiece models (ChatGLM3, Baichuan2) with the
``sentencepiece`` library, tiktoken rank files (Qwen, GLM-4 chatglm format) by
parsing them.
"""

from __future__ import annotations

import base64
import binascii
import logging
import tempfile
from pathlib import Path, PurePosixPath

from .reader import FolderReader

logger = logging.getLogger(__name__)

MAX_TOKENIZER_FILE_BYTES = 64 << 20
MAX_TOKENIZER_TOTAL_BYTES = 192 << 20
TOKENIZER_SUFFIXES = (".json", ".model", ".txt", ".tiktoken", ".jinja", ".vocab")
NEVER_COPIED_SUFFIXES = (".index.json",)
SAMPLE_TEXT = "Hello, world! 你好,世界。 def f(x): return x + 1"


class TokenizerError(ValueError):
    pass


def tokenizer_files(files: dict[str, int]) -> list[str]:
    names = []
    for path in files:
        pure = PurePosixPath(path)
        if len(pure.parts) != 1 or not pure.name.endswith(TOKENIZER_SUFFIXES):
            continue
        if pure.name.endswith(NEVER_COPIED_SUFFIXES):
            continue
        names.append(path)
    return sorted(names)


def check_transformers_tokenizer(reader: FolderReader, files: dict[str, int], vocab_size: int | None) -> list[str]:
    """Load with AutoTokenizer; return notes. Raise TokenizerError with details when it fails."""
    candidates = tokenizer_files(files)
    vocabulary = [
        name
        for name in candidates
        if name in ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model")
        or name.endswith(".tiktoken")
    ]
    if not vocabulary:
        raise TokenizerError(
            "no tokenizer files in the folder (expected tokenizer.json, tokenizer.model or vocab.json + merges.txt)"
        )
    total = 0
    for name in candidates:
        if files[name] > MAX_TOKENIZER_FILE_BYTES:
            raise TokenizerError(f"{name}: {files[name]} bytes, over the {MAX_TOKENIZER_FILE_BYTES}-byte limit")
        total += files[name]
    if total > MAX_TOKENIZER_TOTAL_BYTES:
        raise TokenizerError(f"tokenizer files total {total} bytes, over the {MAX_TOKENIZER_TOTAL_BYTES}-byte limit")

    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    with tempfile.TemporaryDirectory(prefix="weightcheck-tokenizer-") as scratch:
        for name in candidates:
            (Path(scratch) / name).write_bytes(reader.read(name))
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            tokenizer = AutoTokenizer.from_pretrained(scratch, trust_remote_code=False, local_files_only=True)
            ids = tokenizer(SAMPLE_TEXT)["input_ids"]
            vocab = tokenizer.get_vocab()
        except Exception as exc:  # transformers raises many kinds; each is a load failure
            logger.info("weight check: tokenizer load failed", exc_info=True)
            raise TokenizerError(f"AutoTokenizer.from_pretrained failed: {type(exc).__name__}: {exc}") from exc
        finally:
            hf_logging.set_verbosity(verbosity)
    if not vocab:
        raise TokenizerError("the tokenizer loaded with an empty vocabulary")
    if not ids:
        raise TokenizerError("the tokenizer produced no tokens for a sample text")
    largest = max(vocab.values())
    if vocab_size is not None and largest >= vocab_size:
        token = next(t for t, i in vocab.items() if i == largest)
        raise TokenizerError(
            f"token id {largest} ({token!r}) is outside the model's vocabulary (config.json vocab_size {vocab_size})"
        )
    return [f"tokenizer: {type(tokenizer).__name__}, {len(vocab)} tokens, loaded from {', '.join(vocabulary)}"]


def check_sentencepiece(reader: FolderReader, files: dict[str, int], name: str, vocab_size: int | None) -> list[str]:
    if name not in files:
        raise TokenizerError(f"{name} is missing (the SentencePiece model of this family)")
    if files[name] > MAX_TOKENIZER_FILE_BYTES:
        raise TokenizerError(f"{name}: {files[name]} bytes, over the {MAX_TOKENIZER_FILE_BYTES}-byte limit")
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(reader.read(name))
        pieces = processor.GetPieceSize()
        ids = processor.EncodeAsIds(SAMPLE_TEXT)
    except Exception as exc:  # sentencepiece raises RuntimeError/OSError for bad protos
        raise TokenizerError(f"{name}: not a SentencePiece model ({type(exc).__name__}: {exc})") from exc
    if pieces <= 0 or not ids:
        raise TokenizerError(f"{name}: the SentencePiece model is empty")
    if vocab_size is not None and pieces > vocab_size:
        raise TokenizerError(f"{name}: {pieces} pieces, more than the model's vocabulary ({vocab_size})")
    return [f"tokenizer: {name} read with sentencepiece ({pieces} pieces), without the folder's tokenizer code"]


def check_tiktoken(reader: FolderReader, files: dict[str, int], name: str, vocab_size: int | None) -> list[str]:
    if name not in files:
        raise TokenizerError(f"{name} is missing (the tiktoken rank file of this family)")
    if files[name] > MAX_TOKENIZER_FILE_BYTES:
        raise TokenizerError(f"{name}: {files[name]} bytes, over the {MAX_TOKENIZER_FILE_BYTES}-byte limit")
    ranks: set[int] = set()
    tokens: set[bytes] = set()
    for number, line in enumerate(reader.read(name).splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise TokenizerError(f"{name}: line {number} is not '<base64 token> <rank>'")
        try:
            token = base64.b64decode(parts[0], validate=True)
            rank = int(parts[1])
        except (binascii.Error, ValueError) as exc:
            raise TokenizerError(f"{name}: line {number}: {exc}") from exc
        if rank < 0 or rank in ranks or token in tokens:
            raise TokenizerError(f"{name}: line {number}: duplicate or negative rank/token")
        ranks.add(rank)
        tokens.add(token)
    if not ranks:
        raise TokenizerError(f"{name}: empty rank file")
    if vocab_size is not None and max(ranks) >= vocab_size:
        raise TokenizerError(f"{name}: rank {max(ranks)} is outside the model's vocabulary ({vocab_size})")
    return [f"tokenizer: {name} parsed as a tiktoken rank file ({len(ranks)} tokens), without the folder's code"]
