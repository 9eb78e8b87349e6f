"""Problems found in a journey file, each naming the file, the step and the field."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Problem:
    message: str
    field: str = ""
    step: str | None = None
    file: str | None = None

    def in_file(self, file: str) -> Problem:
        return replace(self, file=file)

    def __str__(self) -> str:
        where = [self.file or "<journey>"]
        if self.step:
            where.append(f"step {self.step!r}")
        if self.field:
            where.append(self.field)
        return ": ".join([*where, self.message])


class JourneyError(ValueError):
    """A journey that cannot be loaded; `problems` lists every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
