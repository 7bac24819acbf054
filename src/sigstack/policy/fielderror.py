"""Field errors worded and merged as knative's ``apis.FieldError`` prints them.

policy-controller reports every admission failure and every invalid policy as a
knative ``FieldError``; kubectl shows its ``Error()`` text. Scripts and people match
on that text, so we build the same values and print them the same way, including
the artefacts: an error without a path prints as ``"<message>: "`` (a trailing colon
and space), and errors with the same message and details merge their paths.

knative is Go; there is no Python port, so the few rules are written here:
``via`` prefixes paths (``spec`` + ``authorities[0]`` + ``key`` ->
``spec.authorities[0].key``), ``also`` collects, ``text`` normalises, merges and
sorts as ``FieldError.Error()`` does, and ``level`` separates warnings from errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

ERROR = "error"
WARNING = "warning"


def _is_index(part: str) -> bool:
    return part.startswith("[") and part.endswith("]")


def flatten(parts: Iterable[str]) -> str:
    """knative's ``flatten``: dotted parts joined, indices glued to the part before."""
    out: list[str] = []
    for part in parts:
        for p in part.split("."):
            if p == "":
                continue
            if out and _is_index(p):
                out[-1] += p
            else:
                out.append(p)
    return ".".join(out)


@dataclass(frozen=True)
class FieldError:
    """One knative field error: ``message`` at ``paths`` (``""`` is the current field)."""

    message: str
    paths: tuple[str, ...] = ("",)
    details: str = ""
    level: str = ERROR

    def via(self, *prefix: str) -> FieldError:
        return replace(self, paths=tuple(flatten([*prefix, p]) for p in self.paths))

    def via_index(self, field_name: str, index: int) -> FieldError:
        return self.via(field_name, f"[{index}]")

    def at(self, level: str) -> FieldError:
        return replace(self, level=level)


@dataclass
class FieldErrors:
    """A list of :class:`FieldError` (knative's nested ``FieldError.errors``)."""

    items: list[FieldError] = field(default_factory=list)

    def also(self, *errs: FieldError | FieldErrors | None) -> FieldErrors:
        for e in errs:
            if isinstance(e, FieldErrors):
                self.items.extend(e.items)
            elif e is not None:
                self.items.append(e)
        return self

    def via(self, *prefix: str) -> FieldErrors:
        return FieldErrors([e.via(*prefix) for e in self.items])

    def via_index(self, field_name: str, index: int) -> FieldErrors:
        return FieldErrors([e.via_index(field_name, index) for e in self.items])

    def at(self, level: str) -> FieldErrors:
        return FieldErrors([e.at(level) for e in self.items])

    def filter(self, level: str) -> FieldErrors:
        return FieldErrors([e for e in self.items if e.level == level])

    def __bool__(self) -> bool:
        return bool(self.items)

    def text(self) -> str:
        return render(self.items)


def render(errors: Sequence[FieldError]) -> str:
    """``FieldError.Error()``: merge same message+details (paths unioned and sorted),
    sort by message, one ``message: paths[\\ndetails]`` block each."""
    merged: dict[tuple[str, str, str], set[str]] = {}
    order: list[tuple[str, str, str]] = []
    for e in errors:
        if not e.message:
            continue
        key = (e.message, e.details, e.level)
        if key not in merged:
            merged[key] = set()
            order.append(key)
        merged[key].update(e.paths)
    order.sort(key=lambda k: k[0])
    out = []
    for key in order:
        message, details, _ = key
        paths = ", ".join(sorted(merged[key]))
        out.append(f"{message}: {paths}" + (f"\n{details}" if details else ""))
    return "\n".join(out)


# knative's constructors, with their messages
def missing_field(*fields: str) -> FieldError:
    return FieldError("missing field(s)", tuple(fields))


def invalid_value(value: object, field_name: str, details: str = "") -> FieldError:
    return FieldError(f"invalid value: {value}", (field_name,), details)


def multiple_one_of(*fields: str) -> FieldError:
    return FieldError("expected exactly one, got both", tuple(fields))


def missing_one_of(*fields: str) -> FieldError:
    return FieldError("expected exactly one, got neither", tuple(fields))


def disallowed(*fields: str) -> FieldError:
    return FieldError("must not set the field(s)", tuple(fields))


def generic(message: str, *fields: str) -> FieldError:
    return FieldError(message, tuple(fields) or ("",))
