"""Mongo-style query → compiled predicate over JSON documents.

Operators: ``$eq $ne $gt $gte $lt $lte $in $nin $exists $regex $options $and $or $nor
$not $elemMatch $size $all``, with dotted paths. The query is compiled once into nested
closures, so matching 100,000 documents costs no re-parsing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import regex

from hashfleet.core.errors import QueryInvalid
from hashfleet.server.query.paths import MISSING, getter

Predicate = Callable[[Any], bool]
_ValueTest = Callable[[Any], bool]

_MAX_DEPTH = 32
# Any caller may send a $regex, and a pattern like ^(a+)+$ backtracks exponentially: the
# regex engine's timeout bounds the time all of one query's $regex matching may take.
REGEX_BUDGET_S = 1.0


def compile_query(query: Any) -> Predicate:
    """Compile a Mongo-style query; raises :class:`QueryInvalid` (``ERR_QUERY_INVALID``)."""
    if query is None:
        return _always
    if not isinstance(query, dict):
        raise QueryInvalid("query must be an object")
    return _compile_doc(query, 0)


def _always(_doc: Any) -> bool:
    return True


def _compile_doc(query: dict[str, Any], depth: int) -> Predicate:
    if depth > _MAX_DEPTH:
        raise QueryInvalid("query nests too deeply")
    preds: list[Predicate] = []
    for key, cond in query.items():
        if not isinstance(key, str):
            raise QueryInvalid("query keys must be strings")
        if key.startswith("$"):
            preds.append(_compile_logical(key, cond, depth))
        else:
            preds.append(_compile_field(key, cond, depth))
    if not preds:
        return _always
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        p0, p1 = preds
        return lambda d: p0(d) and p1(d)
    return lambda d: all(p(d) for p in preds)


def _compile_logical(op: str, cond: Any, depth: int) -> Predicate:
    if op in ("$and", "$or", "$nor"):
        if not isinstance(cond, list) or not cond or not all(isinstance(c, dict) for c in cond):
            raise QueryInvalid(f"{op} takes a non-empty array of objects")
        subs = [_compile_doc(c, depth + 1) for c in cond]
        if op == "$and":
            return lambda d: all(p(d) for p in subs)
        if op == "$or":
            return lambda d: any(p(d) for p in subs)
        return lambda d: not any(p(d) for p in subs)
    raise QueryInvalid(f"unknown top-level operator {op}")


def _compile_field(path: str, cond: Any, depth: int) -> Predicate:
    get = getter(path)
    test = _compile_value_test(cond, depth)
    return lambda d: test(get(d))


def _is_operator_doc(cond: Any) -> bool:
    return (
        isinstance(cond, dict)
        and bool(cond)
        and all(isinstance(k, str) and k.startswith("$") for k in cond)
    )


def _compile_value_test(cond: Any, depth: int) -> _ValueTest:
    if depth > _MAX_DEPTH:
        raise QueryInvalid("query nests too deeply")
    if _is_operator_doc(cond):
        tests = [
            _compile_operator(op, arg, cond, depth) for op, arg in cond.items() if op != "$options"
        ]
        if len(tests) == 1:
            return tests[0]
        return lambda v: all(t(v) for t in tests)
    if isinstance(cond, dict) and any(isinstance(k, str) and k.startswith("$") for k in cond):
        raise QueryInvalid("cannot mix operators and fields in one condition")
    return _eq_test(cond)


def _eq_test(target: Any) -> _ValueTest:
    if isinstance(target, regex.Pattern):
        return _regex_test(target)
    if target.__class__ is str:
        # Only a string equals a string (MISSING, bools and numbers never do), and ``in``
        # on a list compares members with ==, as _eq would for a string target.
        def test_str(v: Any) -> bool:
            return v == target or (isinstance(v, list) and target in v)

        return test_str

    def test(v: Any) -> bool:
        if v is MISSING:
            return target is None
        if _eq(v, target):
            return True
        return isinstance(v, list) and any(_eq(x, target) for x in v)

    return test


def _in_strings_test(strings: list[str]) -> _ValueTest:
    """``$in`` of strings only: set membership instead of one equality test per member."""
    wanted = frozenset(strings)

    def test(v: Any) -> bool:
        if isinstance(v, str):
            return v in wanted
        if isinstance(v, list):
            for x in v:  # noqa: SIM110 - a loop, not any() over a generator: hot path
                if isinstance(x, str) and x in wanted:
                    return True
            return False
        return False

    return test


def _eq(a: Any, b: Any) -> bool:
    # bool is an int in Python but not in Mongo: True must not equal 1.
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def _cmp_test(op: str, target: Any) -> _ValueTest:
    if isinstance(target, (dict, list)) or target is None:
        raise QueryInvalid(f"{op} needs a number, string or boolean")
    numeric = isinstance(target, (int, float)) and not isinstance(target, bool)

    def comparable(v: Any) -> bool:
        if numeric:
            return isinstance(v, (int, float)) and not isinstance(v, bool)
        return type(v) is type(target)

    if op == "$gt":
        one: _ValueTest = lambda v: comparable(v) and v > target  # noqa: E731
    elif op == "$gte":
        one = lambda v: comparable(v) and v >= target  # noqa: E731
    elif op == "$lt":
        one = lambda v: comparable(v) and v < target  # noqa: E731
    else:
        one = lambda v: comparable(v) and v <= target  # noqa: E731

    def test(v: Any) -> bool:
        if isinstance(v, list):
            return any(one(x) for x in v)
        return one(v)

    return test


def _regex_test(rx: regex.Pattern[str]) -> _ValueTest:
    deadline: float | None = None

    def search(s: str) -> bool:
        nonlocal deadline
        now = time.monotonic()
        if deadline is None:
            deadline = now + REGEX_BUDGET_S
        try:
            if now >= deadline:
                raise TimeoutError
            return rx.search(s, timeout=deadline - now) is not None
        except TimeoutError:
            raise QueryInvalid(
                f"$regex took more than {REGEX_BUDGET_S:g} s; simplify the pattern"
            ) from None

    def test(v: Any) -> bool:
        if isinstance(v, str):
            return search(v)
        if isinstance(v, list):
            return any(isinstance(x, str) and search(x) for x in v)
        return False

    return test


def _compile_regex(arg: Any, options: Any) -> regex.Pattern[str]:
    if not isinstance(arg, str):
        raise QueryInvalid("$regex takes a string")
    flags = 0
    if options is not None:
        if not isinstance(options, str) or set(options) - set("imsx"):
            raise QueryInvalid("$options takes a string of i, m, s, x")
        for ch, flag in (("i", regex.I), ("m", regex.M), ("s", regex.S), ("x", regex.X)):
            if ch in options:
                flags |= flag
    if len(arg) > 512:
        raise QueryInvalid("$regex is too long")
    try:
        return regex.compile(arg, flags)
    except regex.error as exc:
        raise QueryInvalid(f"invalid $regex: {exc}") from exc


def _compile_operator(op: str, arg: Any, cond: dict[str, Any], depth: int) -> _ValueTest:
    if op == "$eq":
        return _eq_test(arg)
    if op == "$ne":
        eq = _eq_test(arg)
        return lambda v: not eq(v)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return _cmp_test(op, arg)
    if op in ("$in", "$nin"):
        if not isinstance(arg, list):
            raise QueryInvalid(f"{op} takes an array")
        if arg and all(a.__class__ is str for a in arg):
            in_strs = _in_strings_test(arg)
            if op == "$in":
                return in_strs
            return lambda v: not in_strs(v)
        members = [_eq_test(a) for a in arg]
        if op == "$in":
            return lambda v: any(t(v) for t in members)
        return lambda v: not any(t(v) for t in members)
    if op == "$exists":
        want = bool(arg)
        return lambda v: (v is not MISSING) == want
    if op == "$regex":
        return _regex_test(_compile_regex(arg, cond.get("$options")))
    if op == "$not":
        if isinstance(arg, dict):
            inner = _compile_value_test(arg, depth + 1)
        elif isinstance(arg, str):
            inner = _regex_test(_compile_regex(arg, None))
        else:
            raise QueryInvalid("$not takes an operator object")
        return lambda v: not inner(v)
    if op == "$elemMatch":
        if not isinstance(arg, dict):
            raise QueryInvalid("$elemMatch takes an object")
        if _is_operator_doc(arg):
            elem = _compile_value_test(arg, depth + 1)
        else:
            elem = _compile_doc(arg, depth + 1)
        return lambda v: isinstance(v, list) and any(elem(x) for x in v)
    if op == "$size":
        if not isinstance(arg, int) or isinstance(arg, bool):
            raise QueryInvalid("$size takes an integer")
        return lambda v: isinstance(v, list) and len(v) == arg
    if op == "$all":
        if not isinstance(arg, list):
            raise QueryInvalid("$all takes an array")
        wanted = list(arg)
        return lambda v: isinstance(v, list) and all(any(_eq(x, w) for x in v) for w in wanted)
    raise QueryInvalid(f"unknown operator {op}")
