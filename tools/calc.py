"""A calculator tool that parses the expression (never `eval`).

    agentkit run "What is 17% of 2340?" -T calc

Numbers, + - * / // % **, parentheses, and math functions (sqrt, sin, log, ...). Results too
large to be useful and divisions by zero are clear errors. The size of every integer result
(powers, products, factorials) is bounded *before* it is computed, so no expression can freeze
the process; the tool's 5 s timeout is a backstop on top.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from agentkit import tool

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    name: getattr(math, name)
    for name in ("sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "log", "log10", "log2",
                 "exp", "floor", "ceil", "factorial", "gcd", "degrees", "radians", "hypot")
}  # fmt: skip
_FUNCTIONS.update(abs=abs, round=round, min=min, max=max)
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
MAX_EXPONENT = 10_000
MAX_FACTORIAL = 1_000
MAX_LENGTH = 500
MAX_DIGITS = 4_000
"""Digits of an integer result (Python itself refuses to print more than 4,300)."""
_MAX_BITS = int(MAX_DIGITS * math.log2(10))


@tool(timeout=5)
def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression exactly as written.

    Supports + - * / // % ** and parentheses, the constants pi, e and tau, and the functions
    sqrt, sin, cos, tan, asin, acos, atan, log, log10, log2, exp, floor, ceil, factorial,
    gcd, degrees, radians, hypot, abs, round, min and max.

    Args:
        expression: For example "2 * (3 + 4) ** 2" or "sqrt(2) / 2".
    """
    if len(expression) > MAX_LENGTH:
        raise ValueError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as error:
        raise ValueError(f"cannot parse {expression!r}: {error.msg}") from None
    try:
        value = _evaluate(tree.body)
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    except OverflowError:
        raise ValueError("the result is too large") from None
    return _format(value)


def _evaluate(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ValueError(f"exponents are limited to ±{MAX_EXPONENT}")
        _check_size(node.op, left, right)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
    ):
        if node.keywords:
            raise ValueError("functions take positional arguments only")
        arguments = [_evaluate(argument) for argument in node.args]
        if node.func.id == "factorial" and arguments and arguments[0] > MAX_FACTORIAL:
            raise ValueError(f"factorial is limited to {MAX_FACTORIAL}")
        try:
            return _FUNCTIONS[node.func.id](*arguments)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{node.func.id}: {error}") from None
    hint = "; write numbers without thousands separators" if isinstance(node, ast.Tuple) else ""
    element = ast.unparse(node)
    raise ValueError(
        f"unsupported element {element!r}: only numbers, operators, math functions{hint}"
    )


def _check_size(op: ast.operator, left: Any, right: Any) -> None:
    """Refuse an integer result longer than MAX_DIGITS, from the operands' sizes alone."""
    if not (isinstance(left, int) and isinstance(right, int)):
        return  # floats overflow to an error or to inf by themselves, at once
    if isinstance(op, ast.Pow) and right > 0 and abs(left) > 1:
        bits = right * math.log2(abs(left))
    elif isinstance(op, ast.Mult):
        bits = abs(left).bit_length() + abs(right).bit_length() - 1
    else:
        return
    if bits > _MAX_BITS:
        raise ValueError(f"the result would have more than {MAX_DIGITS} digits")


def _format(value: Any) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(round(value, 12))
    return str(value)
