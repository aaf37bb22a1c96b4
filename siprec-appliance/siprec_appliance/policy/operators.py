"""Operators of fact tests, compiled at load time (sets, regexes, networks).

An operator tests one fact value (one element when the fact is a list) and says
in words what it checks (``in list monitored``), for the decision's explanation.
Equality and membership compare text forms (:func:`~.facts.as_text`); on E.164
facts the rule's numbers are normalised with :func:`~siprec_appliance.vendors.to_e164`
first, so ``"0031 20 123 4567"`` matches the fact ``"+31201234567"``.
"""

from __future__ import annotations

import abc
import fnmatch
import functools
import ipaddress
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from siprec_appliance.policy.context import At, CompileContext, Item
from siprec_appliance.policy.facts import as_number, as_text, is_phone_field
from siprec_appliance.vendors import to_e164

__all__ = ["COMPARISONS", "Operator", "compile_operator", "parse_address"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# A converter turns one operand item into the compiled form, or returns an error text.
Converter = Callable[[Item], "tuple[Any, None] | tuple[None, str]"]

_VISUAL = re.compile(r"[\s\-.()]")  # RFC 3966 visual separators
_PHONE_PREFIX = re.compile(r"\+\d{1,15}")
_SHOWN_ITEMS = 5


class Operator(abc.ABC):
    """One compiled test of a single value; ``label`` says what it checks."""

    __slots__ = ("echo", "label")

    def __init__(self, label: str, *, echo: bool = True) -> None:
        self.label = label
        self.echo = echo  # show the fact's value in the explanation

    @abc.abstractmethod
    def test(self, value: Any) -> bool:
        """True when ``value`` (never None, never a list) passes."""


class TextIn(Operator):
    """``equals`` and ``in``: the value's text is one of a set."""

    __slots__ = ("texts",)

    def __init__(self, texts: frozenset[str], label: str, *, echo: bool = True) -> None:
        super().__init__(label, echo=echo)
        self.texts = texts

    def test(self, value: Any) -> bool:
        text = value if type(value) is str else as_text(value)
        return text is not None and text in self.texts


class Prefix(Operator):
    """``prefix``: the value's text starts with one of the prefixes."""

    __slots__ = ("prefixes",)

    def __init__(self, prefixes: tuple[str, ...], label: str) -> None:
        super().__init__(label)
        self.prefixes = prefixes

    def test(self, value: Any) -> bool:
        text = value if type(value) is str else as_text(value)
        return text is not None and text.startswith(self.prefixes)


class Pattern(Operator):
    """``regex`` (searched anywhere) and ``glob`` (compiled to an anchored regex)."""

    __slots__ = ("pattern",)

    def __init__(self, pattern: re.Pattern[str], label: str) -> None:
        super().__init__(label)
        self.pattern = pattern

    def test(self, value: Any) -> bool:
        text = value if type(value) is str else as_text(value)
        return text is not None and self.pattern.search(text) is not None


class Cidr(Operator):
    """``cidr``: the value is an IP address inside one of the networks.

    An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) is also tested as IPv4.
    """

    __slots__ = ("networks",)

    def __init__(self, networks: tuple[Network, ...], label: str) -> None:
        super().__init__(label)
        self.networks = networks

    def test(self, value: Any) -> bool:
        address = parse_address(value) if isinstance(value, str) else None
        if address is None:
            return False
        mapped = getattr(address, "ipv4_mapped", None)
        return any(
            address in network or (mapped is not None and mapped in network)
            for network in self.networks
        )


@functools.lru_cache(maxsize=4096)
def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A parsed IP address, surrounding blanks ignored; None when ``text`` is not one.

    Cached: calls come from a handful of SBC addresses. The rule index
    (:mod:`.index`) uses this same function, so both read an address alike.
    """
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


class Compare(Operator):
    """``lt``/``le``/``gt``/``ge``: the value (or a string holding a number) against a bound."""

    __slots__ = ("bound", "compare")

    def __init__(self, compare: Callable[[float, float], bool], bound: float, label: str) -> None:
        super().__init__(label)
        self.compare = compare
        self.bound = bound

    def test(self, value: Any) -> bool:
        number = as_number(value)
        return number is not None and self.compare(number, self.bound)


COMPARISONS: Mapping[str, tuple[Callable[[float, float], bool], str]] = {
    "lt": (operator.lt, "<"),
    "le": (operator.le, "<="),
    "gt": (operator.gt, ">"),
    "ge": (operator.ge, ">="),
}


def compile_operator(
    name: str, operand: Any, at: At, field: str, ctx: CompileContext
) -> Operator | None:
    """Compile ``<name>: <operand>`` for the fact ``field``; problems go to ``ctx``."""
    if name in COMPARISONS:
        compare, symbol = COMPARISONS[name]
        bound = float(operand)
        return Compare(compare, bound, f"{symbol} {as_text(operand)}")
    if name == "regex":
        return _compile_regex(operand, at, ctx)
    phone = is_phone_field(field)
    builder = _BUILDERS[name]
    converter = _converter(name, phone)
    operands = _operand_items(operand, at, ctx)
    if operands is None:
        return None
    items, list_name = operands
    values = _convert(items, list_name, converter, name=name, phone=phone, ctx=ctx)
    if values is None:
        return None
    return builder(values, _label(name, values, list_name))


def _compile_regex(operand: Any, at: At, ctx: CompileContext) -> Operator | None:
    try:
        pattern = re.compile(str(operand))
    except re.error as exc:
        ctx.report(at, f"not a valid regular expression: {exc.msg} at position {exc.pos}")
        return None
    return Pattern(pattern, f"matches regex {operand}")


def _operand_items(
    operand: Any, at: At, ctx: CompileContext
) -> tuple[list[Item], str | None] | None:
    """The operand's values with locations, and the list name for ``{list: name}``."""
    if isinstance(operand, Mapping):
        name = str(operand["list"])
        named = ctx.lists.get(name)
        if named is None:
            defined = ", ".join(sorted(ctx.lists)) or "none"
            ctx.report(at.child("list"), f"unknown list {name!r} (defined lists: {defined})")
            return None
        return named.items(), name
    if isinstance(operand, list):
        return [Item(value, at.child(index)) for index, value in enumerate(operand)], None
    return [Item(operand, at)], None


def _convert(
    items: list[Item],
    list_name: str | None,
    converter: Converter,
    *,
    name: str,
    phone: bool,
    ctx: CompileContext,
) -> tuple[Any, ...] | None:
    """Convert every item; a named list is converted (and reported on) once per kind."""
    kind = f"{name}:{phone}"
    if list_name is not None and (list_name, kind) in ctx.cache:
        cached: tuple[Any, ...] | None = ctx.cache[(list_name, kind)]
        return cached
    values: list[Any] = []
    failed = False
    for item in items:
        value, problem = converter(item)
        if problem is not None:
            ctx.report(item.at, problem)
            failed = True
        else:
            values.append(value)
    result = None if failed else tuple(values)
    if list_name is not None:
        ctx.cache[(list_name, kind)] = result
    return result


def _text(item: Item) -> tuple[Any, None] | tuple[None, str]:
    text = as_text(item.value)
    if text is None:
        return None, f"expected a text or a number, got {item.value!r}"
    return text, None


def _phone(item: Item) -> tuple[Any, None] | tuple[None, str]:
    written = as_text(item.at.written(item.value)) or ""
    number = to_e164(written)
    if number is None:
        return None, (
            f"{written!r} is not an international phone number (+… or 00…, 7 to 15 digits)"
        )
    return number, None


def _phone_prefix(item: Item) -> tuple[Any, None] | tuple[None, str]:
    written = as_text(item.at.written(item.value)) or ""
    text = _VISUAL.sub("", written)
    if text.startswith("00"):
        text = "+" + text[2:]
    if not _PHONE_PREFIX.fullmatch(text):
        return None, f"{written!r} is not the start of an international phone number (+… or 00…)"
    return text, None


def _network(item: Item) -> tuple[Any, None] | tuple[None, str]:
    text = as_text(item.value) or ""
    try:
        return ipaddress.ip_network(text.strip(), strict=False), None
    except ValueError:
        return None, f"{text!r} is not an IP network (e.g. 192.0.2.0/24 or 2001:db8::/32)"


def _converter(name: str, phone: bool) -> Converter:
    if name == "cidr":
        return _network
    if phone and name in ("equals", "in"):
        return _phone
    if phone and name == "prefix":
        return _phone_prefix
    return _text


def _shown(values: tuple[Any, ...]) -> str:
    texts = [str(value) for value in values[:_SHOWN_ITEMS]]
    if len(values) > _SHOWN_ITEMS:
        texts.append(f"… {len(values) - _SHOWN_ITEMS} more")
    return "[" + ", ".join(texts) + "]"


def _label(name: str, values: tuple[Any, ...], list_name: str | None) -> str:
    """What the operator checks, in words: ``in list monitored``, ``has prefix +3120``."""
    single, plural = _WORDS[name]
    if list_name is not None:
        return f"{plural} list {list_name}"
    if len(values) == 1 and name != "in":
        return f"{single} {values[0]}"
    return f"{plural} {_shown(values)}"


_WORDS: Mapping[str, tuple[str, str]] = {
    "equals": ("equals", "in"),
    "in": ("in", "in"),
    "prefix": ("has prefix", "has a prefix in"),
    "glob": ("matches glob", "matches a glob in"),
    "cidr": ("in network", "in a network of"),
}


def _glob_pattern(globs: tuple[str, ...]) -> re.Pattern[str]:
    # fnmatch.translate gives "(?s:…)\Z"; anchor the start too: the whole value must match.
    return re.compile(r"\A(?:" + "|".join(fnmatch.translate(glob) for glob in globs) + ")")


_BUILDERS: Mapping[str, Callable[[tuple[Any, ...], str], Operator]] = {
    "equals": lambda values, label: TextIn(frozenset(values), label, echo=False),
    "in": lambda values, label: TextIn(frozenset(values), label),
    "prefix": lambda values, label: Prefix(tuple(values), label),
    "glob": lambda values, label: Pattern(_glob_pattern(values), label),
    "cidr": lambda values, label: Cidr(tuple(values), label),
}
