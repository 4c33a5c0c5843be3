"""Schema building blocks shared by every resource: base configs, pages, problem details."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

T = TypeVar("T")

NAME_MAX = 200


def _refuse_null(value: object) -> object:
    if value is None:
        raise ValueError("must not be null; omit the field to keep its value")
    return value


#: for update fields that may be omitted (kept) but not set to null; defaults are not validated
NotNull = BeforeValidator(_refuse_null)


class InputModel(BaseModel):
    """A request body: unknown fields are refused so that typos surface as a 422 naming the field."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PublicModel(BaseModel):
    """A response body built from a domain object."""

    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a list; `total` is the number of matches when the list can count them."""

    items: list[T]
    offset: int
    limit: int
    total: int | None = None


class FieldError(BaseModel):
    """One invalid field of a request."""

    field: str
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error is answered."""

    type: str = Field(examples=["https://openiiot.dev/problems/not-found"])
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}, "description": text}
    for status, text in (
        (401, "Missing, invalid or expired credentials"),
        (403, "The caller's role does not allow this"),
        (404, "No such object in the caller's tenant"),
        (409, "Conflicts with existing objects or state"),
        (422, "Invalid input; `errors` names the fields"),
    )
}
