"""How big a checkpoint's tensor index may be, from the layout it must match.

A safetensors header is JSON we must parse, an index is JSON, a ``.bin`` archive
holds a pickle we decode: each costs time and memory in proportion to the number
of entries it lists. The safetensors library only caps a header at 100 MB, which
is enough for 1.5 million zero-size tensors (a minute of parsing and more than a
gigabyte of Python objects). The template tells us how many tensors the folder
can hold, so everything above that, with generous slack, is refused before it is
parsed: by byte length first (no JSON read at all), then by counting entries while
parsing (the parser stops at the first entry over the limit).

The budget is shared by all the shards of one checkpoint: a folder cannot get past
it by spreading a hostile header over many files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Allowed beyond the expected tensors: names transformers ignores when loading
# (old rotary inv_freq buffers, DeepSeek's multi-token-prediction layer, ...), a few
# unexpected tensors we still want to name in the failure. Half again plus a constant
# is far above any published checkpoint (DeepSeek-V3: 90,427 expected, its extra
# layer adds about 1,600).
EXTRA_TENSORS_FACTOR = 0.5
EXTRA_TENSORS = 1024
# A safetensors entry is `"name":{"dtype":"BF16","shape":[a,b],"data_offsets":[x,y]},`:
# about 70 bytes besides the name; 160 leaves room for pretty-printed JSON and long
# offsets. The fixed slack is for __metadata__ and the padding writers add.
ENTRY_BYTES = 160
FIXED_BYTES = 1 << 20
# A torch.save pickle spends about 100-150 bytes per tensor besides its name (the
# rebuild call, the storage's persistent id, shape and stride tuples) plus the
# state dict's per-module _metadata.
PICKLE_ENTRY_BYTES = 400


class BudgetError(ValueError):
    """The checkpoint lists more than the template's layout can hold; the message says how much."""


@dataclass
class TensorBudget:
    expected: int
    max_tensors: int
    max_header_bytes: int
    max_pickle_bytes: int
    tensors_used: int = 0
    header_bytes_used: int = 0

    @classmethod
    def for_names(cls, names: Iterable[str]) -> TensorBudget:
        """The budget for a checkpoint that must hold these tensor names (required and optional)."""
        count, longest = 0, 0
        for name in names:
            count += 1
            longest = max(longest, len(name.encode("utf-8")))
        max_tensors = count + int(count * EXTRA_TENSORS_FACTOR) + EXTRA_TENSORS
        return cls(
            expected=count,
            max_tensors=max_tensors,
            max_header_bytes=max_tensors * (longest + ENTRY_BYTES) + FIXED_BYTES,
            max_pickle_bytes=max_tensors * (longest + PICKLE_ENTRY_BYTES) + FIXED_BYTES,
        )

    def _expected(self) -> str:
        return f"this model's template has {self.expected} tensors (at most {self.max_tensors} with allowed extras)"

    def check_bytes(self, path: str, length: int, what: str = "header", limit: int | None = None) -> None:
        """Refuse ``length`` bytes of index before reading them, when the budget has no room for them."""
        limit = self.max_header_bytes if limit is None else limit
        earlier = self.header_bytes_used
        if earlier + length > limit:
            before = f" (after {earlier} bytes in earlier shards)" if earlier else ""
            raise BudgetError(
                f"{path}: {what} too large: {length} bytes{before}, over the {limit} bytes "
                f"the tensors of this model could need; {self._expected()}"
            )

    def take_bytes(self, path: str, length: int, what: str = "header", limit: int | None = None) -> None:
        """``check_bytes``, then count them against what the following shards may use."""
        self.check_bytes(path, length, what, limit)
        self.header_bytes_used += length

    def tensor_limit(self) -> int:
        """How many more tensors the next file may list."""
        return self.max_tensors - self.tensors_used

    def too_many(self, path: str, listed: int | None = None, about: bool = False) -> BudgetError:
        earlier = f" (after {self.tensors_used} in earlier shards)" if self.tensors_used else ""
        if listed is None:
            count = f"more than {self.tensor_limit()}"
        else:
            count = f"about {listed}" if about else f"{listed}"
        return BudgetError(f"{path}: too many tensors: it lists {count}{earlier}; {self._expected()}")

    def take_tensors(self, path: str, count: int) -> None:
        if count > self.tensor_limit():
            raise self.too_many(path, count)
        self.tensors_used += count
