"""A page of a list: which one and how long."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size
