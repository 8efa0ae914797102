"""The result of one weight check, as stored in a task record's JSON field."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .messages import FAILURES


@dataclass
class CheckReport:
    ok: bool = False
    code: str | None = None
    message: str | None = None
    explanation_zh: str | None = None
    advice_zh: str | None = None
    explanation_en: str | None = None
    advice_en: str | None = None
    details: list[str] = field(default_factory=list)
    custom_code_present: bool = False
    notes: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    bytes_read: int = 0
    template: str | None = None
    log_reference: str | None = None
    duration_seconds: float = 0.0

    def fail(self, code: str, details: list[str] | tuple[str, ...] = ()) -> None:
        failure = FAILURES[code]
        self.ok = False
        self.code = code
        self.message = failure["message"]
        self.explanation_zh = failure["explanation_zh"]
        self.advice_zh = failure["advice_zh"]
        self.explanation_en = failure["explanation_en"]
        self.advice_en = failure["advice_en"]
        self.details.extend(details)

    def succeed(self) -> None:
        self.ok = True
        self.code = self.message = None
        self.explanation_zh = self.advice_zh = None
        self.explanation_en = self.advice_en = None

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckReport:
        known = cls.__dataclass_fields__
        return cls(**{key: value for key, value in data.items() if key in known})
