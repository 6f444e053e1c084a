"""Layer 2 (tool definition): turn a function's signature into a JSON schema and a validator.

Everything here runs once, when a tool is defined. What it builds (a pydantic `TypeAdapter`
over a `TypedDict` of the parameters, the wire schemas) is reused for every call, so
validating a call costs microseconds.

Decisions (documented in docs/tools.md):
- A parameter with a default is optional; when absent, the function's own default applies.
- `*args` is an array property and `**kwargs` an object property, each named after the
  parameter; `**kwargs` rules out strict mode.
- A function whose only parameter is a pydantic model, dataclass or TypedDict is *flattened*:
  the schema is that type's schema, and the validated object is passed as the argument.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NotRequired, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python
from typing_extensions import TypedDict, is_typeddict

from ._docstrings import DocstringStyle, ParsedDocstring, parse_docstring
from ._exceptions import ToolArgumentsError, ToolDefinitionError
from ._strict import JsonSchema, clean_schema, drop_default_nulls, to_strict

__all__ = ["FunctionSchema", "describe_errors", "function_schema", "parse_arguments"]

_MAX_ERROR_CHARS = 600
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionSchema:
    """Everything derived from a function's signature and docstring, computed once."""

    description: str
    """The docstring's summary and body, without its parameter and returns sections."""
    parameters: JsonSchema
    """The JSON schema of the arguments, as sent when strict mode is off."""
    strict_parameters: JsonSchema | None
    """The strict-mode form of `parameters`, or `None` where strict mode is impossible."""
    strict_problems: tuple[str, ...]
    """Why strict mode is impossible (empty where it is possible)."""
    takes_context: bool
    """Whether the first parameter is the run context (injected, left out of the schema)."""
    adapter: TypeAdapter[Any]
    """The validator of the arguments, built once."""
    flattened: str | None = None
    """The name of the single model parameter whose fields are the arguments, if flattened."""
    positional: tuple[tuple[str, Any], ...] = ()
    """Parameters passed by position, in order, with their defaults (`inspect.Parameter.empty`)."""
    var_positional: str | None = None
    """The name of the `*args` parameter, if any."""
    var_keyword: str | None = None
    """The name of the `**kwargs` parameter, if any."""
    nulls_may_mean_default: bool = False
    """Whether some optional argument sent as `null` stands for its default (strict mode)."""

    def validate_json(self, raw: str, *, tool_name: str) -> dict[str, Any]:
        """Parse and validate the model's raw arguments into keyword arguments by name.

        Raises:
            ToolArgumentsError: The arguments are not JSON, not an object, or do not validate.
        """
        data = parse_arguments(raw, tool_name)
        if self.nulls_may_mean_default:
            data = drop_default_nulls(data, self.parameters)
        try:
            value = self.adapter.validate_python(data)
        except ValidationError as error:
            details = [
                dict(detail)
                for detail in error.errors(
                    include_url=False, include_input=False, include_context=False
                )
            ]
            raise ToolArgumentsError(
                describe_errors(details), tool_name=tool_name, errors=details
            ) from None
        if self.flattened is not None:
            return {self.flattened: value}
        return dict(value)

    def bind(self, arguments: Mapping[str, Any], context: Any) -> tuple[list[Any], dict[str, Any]]:
        """Split validated arguments into the positional and keyword arguments of a call."""
        args: list[Any] = [context] if self.takes_context else []
        kwargs = dict(arguments)
        for name, default in self.positional:
            if name in kwargs:
                args.append(kwargs.pop(name))
            elif default is not inspect.Parameter.empty:
                args.append(default)
        if self.var_positional is not None:
            args.extend(kwargs.pop(self.var_positional, ()))
        if self.var_keyword is not None:
            kwargs.update(kwargs.pop(self.var_keyword, {}))
        return args, kwargs


def function_schema(
    function: Callable[..., Any],
    *,
    display_name: str,
    docstring_style: DocstringStyle = "auto",
    describe_returns: bool = False,
    is_context: Callable[[Any], bool],
    local_names: Mapping[str, Any] | None = None,
) -> FunctionSchema:
    """Build the schema and validator of `function`'s parameters.

    Args:
        function: Any callable: function, bound method, `functools.partial`, callable object.
        display_name: How errors name the function.
        docstring_style: The docstring style, or `"auto"`.
        describe_returns: Append the docstring's returns text to the description.
        is_context: Tells whether an annotation is the injected run context type.
        local_names: Names visible where the function was defined (an enclosing function's
            locals), for postponed annotations that name them, as pydantic does.

    Raises:
        ToolDefinitionError: A parameter cannot be expressed, or the context is misplaced.
    """
    parameters = _signature(function, display_name, local_names)
    takes_context = bool(parameters) and is_context(parameters[0].annotation)
    if takes_context:
        parameters = parameters[1:]
    for position, parameter in enumerate(parameters, start=1 + takes_context):
        _check_parameter(parameter, position, display_name, is_context)
    doc = parse_docstring(_docstring_of(function), docstring_style)
    description = _description(doc, describe_returns)
    if len(parameters) == 1 and _is_flattenable(parameters[0]):
        return _flattened_schema(parameters[0], description, takes_context, display_name)
    fields = {p.name: _field_annotation(p, doc) for p in parameters}
    arguments_type = TypedDict(f"{display_name}_arguments", fields)  # type: ignore[misc]
    arguments_type.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    adapter, schema = _adapter_and_schema(arguments_type, fields, display_name)
    for parameter in parameters:
        _add_default(schema, parameter)
    has_positional_args = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    return _finish(
        description=description,
        schema=schema,
        takes_context=takes_context,
        adapter=adapter,
        positional=tuple(
            (p.name, p.default)
            for p in parameters
            if p.kind is inspect.Parameter.POSITIONAL_ONLY
            or (has_positional_args and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ),
        var_positional=_name_of_kind(parameters, inspect.Parameter.VAR_POSITIONAL),
        var_keyword=_name_of_kind(parameters, inspect.Parameter.VAR_KEYWORD),
    )


def _finish(*, schema: JsonSchema, **fields: Any) -> FunctionSchema:
    schema = clean_schema(schema)
    strict, problems = to_strict(schema)
    return FunctionSchema(
        parameters=schema,
        strict_parameters=None if problems else strict,
        strict_problems=tuple(problems),
        nulls_may_mean_default=_has_optional_property(schema),
        **fields,
    )


def _signature(
    function: Callable[..., Any], display_name: str, local_names: Mapping[str, Any] | None
) -> list[inspect.Parameter]:
    try:
        try:
            signature = inspect.signature(function, eval_str=True)
        except NameError:
            if not local_names:
                raise
            signature = inspect.signature(function, eval_str=True, locals=dict(local_names))
    except NameError as error:
        raise ToolDefinitionError(
            f"{display_name}: cannot resolve the type annotation {error.name!r}; define it at "
            "module level or import it where the function is defined"
        ) from None
    except (TypeError, ValueError) as error:
        raise ToolDefinitionError(f"{display_name}: has no readable signature ({error})") from None
    return list(signature.parameters.values())


def _check_parameter(
    parameter: inspect.Parameter,
    position: int,
    display_name: str,
    is_context: Callable[[Any], bool],
) -> None:
    if is_context(parameter.annotation):
        raise ToolDefinitionError(
            f"{display_name}: parameter {parameter.name!r} is a RunContext at position "
            f"{position}; the context must be the first parameter"
        )
    if position == 1 and parameter.name in ("self", "cls") and _unannotated(parameter):
        raise ToolDefinitionError(
            f"{display_name}: parameter {parameter.name!r} looks unbound; make a tool of the "
            "bound method instead, e.g. tool(instance.method)"
        )
    if isinstance(parameter.default, FieldInfo):
        raise ToolDefinitionError(
            f"{display_name}: parameter {parameter.name!r} uses Field(...) as its default; "
            f"write `{parameter.name}: Annotated[T, Field(...)] = default` instead"
        )


def _unannotated(parameter: inspect.Parameter) -> bool:
    return parameter.annotation is inspect.Parameter.empty


def _field_annotation(parameter: inspect.Parameter, doc: ParsedDocstring) -> Any:
    annotation = Any if _unannotated(parameter) else parameter.annotation
    if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
        annotation = list[annotation]  # type: ignore[valid-type]
    elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
        annotation = dict[str, annotation]  # type: ignore[valid-type]
    described = doc.parameters.get(parameter.name)
    if described and not _has_description(annotation):
        annotation = Annotated[annotation, Field(description=described)]
    optional = parameter.default is not inspect.Parameter.empty or parameter.kind in _VARIADIC
    return NotRequired[annotation] if optional else annotation


def _has_description(annotation: Any) -> bool:
    if get_origin(annotation) is not Annotated:
        return False
    return any(isinstance(m, FieldInfo) and m.description for m in get_args(annotation)[1:])


def _adapter_and_schema(
    arguments_type: Any, fields: Mapping[str, Any], display_name: str
) -> tuple[TypeAdapter[Any], JsonSchema]:
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(arguments_type)
        return adapter, adapter.json_schema()
    except Exception:  # pydantic raises several kinds; find the parameter to blame
        culprit, reason = _find_inexpressible(fields)
        raise ToolDefinitionError(
            f"{display_name}: parameter {culprit!r} has a type that cannot be expressed as "
            f"JSON schema ({reason}); use JSON-friendly types such as str, int, list[...], "
            "a pydantic model or a dataclass"
        ) from None


def _find_inexpressible(fields: Mapping[str, Any]) -> tuple[str, str]:
    for name, annotation in fields.items():
        try:
            TypeAdapter(annotation).json_schema()
        except Exception as error:
            return name, _first_line(str(error))
    return "?", "unknown reason"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no details"


def _add_default(schema: JsonSchema, parameter: inspect.Parameter) -> None:
    if parameter.default is inspect.Parameter.empty:
        return
    try:
        default = to_jsonable_python(parameter.default)
    except Exception:  # a default JSON cannot show is simply not shown
        return
    schema["properties"][parameter.name]["default"] = default


def _is_flattenable(parameter: inspect.Parameter) -> bool:
    annotation = parameter.annotation
    if parameter.kind in _VARIADIC or not isinstance(annotation, type):
        return False
    return (
        issubclass(annotation, BaseModel)
        or dataclasses.is_dataclass(annotation)
        or is_typeddict(annotation)
    )


def _flattened_schema(
    parameter: inspect.Parameter, description: str, takes_context: bool, display_name: str
) -> FunctionSchema:
    annotation = parameter.annotation
    adapter, schema = _adapter_and_schema(annotation, {parameter.name: annotation}, display_name)
    return _finish(
        description=description or _own_docstring(annotation, ""),
        schema=schema,
        takes_context=takes_context,
        adapter=adapter,
        flattened=parameter.name,
    )


def _own_docstring(cls: type, fallback: str) -> str:
    # Only the class's own docstring counts (not BaseModel's or dict's); and dataclasses
    # invent one from their signature, which is no description.
    doc = cls.__doc__
    if not doc or (dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}(")):
        return fallback
    return parse_docstring(doc).description or fallback


def _docstring_of(function: Callable[..., Any]) -> str | None:
    while isinstance(function, functools.partial):
        function = function.func
    if inspect.isroutine(function):
        return inspect.getdoc(function)
    # A callable object: its own __call__ docstring, else its class's (never inherited ones).
    return getattr(type(function).__call__, "__doc__", None) or type(function).__doc__


def _description(doc: ParsedDocstring, describe_returns: bool) -> str:
    if describe_returns and doc.returns:
        return f"{doc.description}\n\nReturns: {doc.returns}".strip()
    return doc.description


def _name_of_kind(parameters: Sequence[inspect.Parameter], kind: Any) -> str | None:
    return next((p.name for p in parameters if p.kind is kind), None)


def _has_optional_property(node: Any) -> bool:
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict) and set(properties) - set(node.get("required", ())):
            return True
        return any(_has_optional_property(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_optional_property(item) for item in node)
    return False


class _DuplicateKey(Exception):
    """An object in the arguments names the same key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        counts = Counter(key for key, _ in pairs)
        raise _DuplicateKey(next(key for key, count in counts.items() if count > 1))
    return data


def parse_arguments(raw: str, tool_name: str) -> dict[str, Any]:
    """The model's raw arguments as a JSON object (empty text is `{}`).

    Raises:
        ToolArgumentsError: Not JSON, not an object, too deep, or a key given twice.
    """
    if not raw or raw.isspace():
        return {}
    try:
        # Duplicate keys are refused, not resolved: a parser keeping the last one while a
        # person reads the first is how an approval prompt gets spoofed.
        data = json.loads(raw, object_pairs_hook=_unique_keys)
    except _DuplicateKey as duplicate:
        key = str(duplicate)
        message = f"the key {key!r} appears more than once; send each argument once"
        raise ToolArgumentsError(
            message, tool_name=tool_name, errors=[_error((key,), message, "duplicate_key")]
        ) from None
    except RecursionError:
        message = "arguments are nested too deeply"
        raise ToolArgumentsError(
            message, tool_name=tool_name, errors=[_error((), message, "json_invalid")]
        ) from None
    except ValueError as error:
        message = f"arguments are not valid JSON ({error})"
        raise ToolArgumentsError(
            message, tool_name=tool_name, errors=[_error((), message, "json_invalid")]
        ) from None
    if not isinstance(data, dict):
        message = f"arguments must be a JSON object, got {_json_kind(data)}"
        raise ToolArgumentsError(
            message, tool_name=tool_name, errors=[_error((), message, "not_an_object")]
        )
    return data


def _error(loc: tuple[Any, ...], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


def describe_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    """One bounded line for the model: each problem's path and reason."""
    parts = [f"{_path(error['loc'])}: {_reason(error)}" for error in errors]
    text = "invalid arguments: " + "; ".join(parts)
    if len(text) > _MAX_ERROR_CHARS:
        text = (
            text[: _MAX_ERROR_CHARS - 40].rsplit(";", 1)[0] + f"; … ({len(parts)} problems in all)"
        )
    return text


def _reason(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unexpected argument"
    if error["type"] == "missing":
        return "missing required argument"
    return str(error["msg"])


def _path(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(arguments)"
