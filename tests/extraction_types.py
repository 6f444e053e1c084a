"""Output types for the extraction tests (module level, so annotations resolve)."""

from __future__ import annotations

import dataclasses
from typing import Literal, NotRequired

from pydantic import BaseModel, field_validator
from typing_extensions import TypedDict


class LineItem(BaseModel):
    description: str
    quantity: int
    unit_price: float


class Invoice(BaseModel):
    """An invoice."""

    number: str
    customer: str
    items: list[LineItem]
    total: float

    @field_validator("number")
    @classmethod
    def number_has_prefix(cls, value: str) -> str:
        if not value.startswith("INV-"):
            raise ValueError("invoice numbers start with INV-")
        return value


class Contact(BaseModel):
    """A person's contact card."""

    name: str
    email: str | None = None


@dataclasses.dataclass
class Point:
    x: float
    y: float


class Movie(TypedDict):
    title: str
    year: NotRequired[int]


class Cat(BaseModel):
    kind: Literal["cat"] = "cat"
    name: str


class Dog(BaseModel):
    kind: Literal["dog"] = "dog"
    name: str
    good: bool = True
