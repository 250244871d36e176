"""Go ``text/template``, as ``docker ... --format``/``-f`` users write it.

People paste format strings from Docker documentation and scripts
(``{{.Os}}/{{.Architecture}}``, ``{{json .Config}}``,
``{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{println}}{{end}}``) and
expect byte-identical output, so this module reimplements the Go package's
lexer, parser and evaluator (src/text/template/{parse/lex.go,parse/parse.go,
exec.go,funcs.go}) rather than approximating it with another template engine.
The data is JSON-like Python (dict, list, str, int, float, bool, None) and is
treated exactly as Go treats the same document decoded into ``interface{}``
values: a dict is a ``map[string]interface{}``, a list a ``[]interface{}``,
None a nil interface, an int an ``int`` and a float a ``float64``.

What follows from that, as Go does it:

* a missing key prints ``<no value>``, and so does a key whose value is null;
* ``{{.}}`` of a dict prints ``map[k:v ...]`` with sorted keys, a list
  ``[a b]``, floats as ``%v`` (``1e+06``, ``0.5``);
* ``range`` over a dict visits keys in sorted order; over an int counts;
* ``and``/``or`` short-circuit and return an operand, not a bool.

Functions: Go's builtins (``and or not eq ne lt le gt ge len index slice
print printf println html urlquery``) and Docker's (``json join split lower
upper title pad truncate``).  Deliberate differences, each documented where
it happens: ``json`` keeps dict insertion order (our dicts stand for Docker's
structs, whose fields Go marshals in declaration order); ``join`` accepts a
list of strings (Docker passes a typed ``[]string``); ``{{define}}``,
``{{template}}``, ``{{block}}``, ``call``, ``js`` and complex numbers are
refused with a :class:`~anyarch.errors.TemplateError`.

Where Docker's data is typed and ours is not, output can differ: Docker's
``Config.Labels`` is a ``map[string]string``, so ``{{index .Config.Labels
"nope"}}`` prints an empty string there and ``<no value>`` here, and a null
``Labels`` prints ``map[]`` there and ``<no value>`` here.  The language
follows current Go: range over an integer (1.22), ``{{else with}}`` (1.23),
encoding/json's ``\b``/``\f`` escapes (1.22).

Pure: no I/O.
"""

from __future__ import annotations

import math
import unicodedata
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from anyarch.errors import TemplateError

__all__ = ["SUPPORTED_FUNCTIONS", "Template", "parse_template", "render"]


# --- values ----------------------------------------------------------------------


class _Missing:
    """Go's invalid ``reflect.Value``: what a missing map key evaluates to."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()


class _NoFinal:
    """Go's ``missingVal``: no value is being piped into this command."""


_NO_FINAL = _NoFinal()

#: Parameter types of the template functions, named as Go names them.
_ANY = "interface {}"
_VALUE = "reflect.Value"
_STRING = "string"
_INT = "int"
_STRINGS = "[]string"


class _CallError(Exception):
    """A template function refused its arguments (Go: the function's error result)."""


def _type_name(v: object) -> str:
    if v is None or v is MISSING:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Mapping):
        return "map[string]interface {}"
    if isinstance(v, (list, tuple)):
        return "[]interface {}"
    return type(v).__name__


def _is_list(v: object) -> bool:
    return isinstance(v, (list, tuple))


def _sorted_keys(m: Mapping[object, object]) -> list[object]:
    """Go's fmtsort order for map keys: strings and numbers ascending."""
    try:
        return sorted(m)  # type: ignore[type-var]
    except TypeError:
        return sorted(m, key=lambda k: (type(k).__name__, str(k)))


def _truth(v: object) -> bool:
    """Go's ``isTrue``: the zero value of every type is false."""
    if v is None or v is MISSING:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, (str, Mapping, list, tuple)):
        return len(v) > 0
    return True


# --- Go's number and string formatting ---------------------------------------------


def _float_digits(v: float) -> tuple[bool, str, int]:
    """Shortest round-trip decimal digits of ``v`` and the decimal point position.

    Python's ``repr`` and Go's ``strconv`` both produce the shortest digit
    string that reads back as the same float, so the digits agree; only the
    layout differs, which the callers reproduce.
    """
    neg = math.copysign(1.0, v) < 0
    if v == 0:
        return neg, "0", 1
    sign, digit_tuple, exponent = Decimal(repr(v)).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    return bool(sign), digits, len(digits) + exponent


def _layout_e(digits: str, dp: int, prec: int) -> str:
    mantissa = digits[0]
    frac = digits[1:].ljust(prec, "0")[:prec] if prec > 0 else ""
    if frac:
        mantissa += "." + frac
    x = dp - 1 if digits != "0" else 0
    return f"{mantissa}e{'-' if x < 0 else '+'}{abs(x):02d}"


def _layout_f(digits: str, dp: int) -> str:
    if digits == "0":
        return "0"
    if dp <= 0:
        return "0." + "0" * -dp + digits
    if dp >= len(digits):
        return digits + "0" * (dp - len(digits))
    return digits[:dp] + "." + digits[dp:]


def _go_float(v: float) -> str:
    """``strconv.FormatFloat(v, 'g', -1, 64)``, which ``%v`` uses.

    Exponent form when the exponent is < -4 or >= 6 (ftoa.go: "if precision
    was the shortest possible, use precision 6 for this decision"), so
    ``1000000.0`` prints ``1e+06`` and ``100000.0`` prints ``100000``.
    """
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    neg, digits, dp = _float_digits(v)
    x = dp - 1
    if digits != "0" and (x < -4 or x >= 6):
        body = _layout_e(digits, dp, len(digits) - 1)
    else:
        body = _layout_f(digits, dp)
    return ("-" if neg else "") + body


class _Unsupported(Exception):
    """encoding/json cannot marshal this value (NaN, infinities)."""


def _json_float(v: float) -> str:
    """encoding/json's float64 encoder: 'f' layout, 'e' outside [1e-6, 1e21)."""
    if math.isnan(v) or math.isinf(v):
        raise _Unsupported
    neg, digits, dp = _float_digits(v)
    a = abs(v)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        body = _layout_e(digits, dp, len(digits) - 1)
        # encoding/json: "clean up e-09 to e-9"
        if len(body) >= 4 and body[-4:-1] == "e-0":
            body = body[:-2] + body[-1]
    else:
        body = _layout_f(digits, dp)
    return ("-" if neg else "") + body


_JSON_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _json_string(s: str) -> str:
    """encoding/json string encoding with ``SetEscapeHTML(false)``, as Docker's ``json``."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[ch])
        elif o < 0x20 or o in (0x2028, 0x2029):
            out.append(f"\\u{o:04x}")
        elif 0xD800 <= o <= 0xDFFF:  # not valid UTF-8: Go substitutes U+FFFD
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_json(v: object) -> str:
    """Go's ``json.Marshal`` of the ``interface{}`` view of ``v`` (compact).

    Dicts keep insertion order, not Go's sorted map order: they stand for
    Docker's structs, whose fields Go marshals in declaration order, so
    ``{{json .Config}}`` reads as ``docker image inspect`` prints it.
    """
    if v is None or v is MISSING:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _json_float(v)
    if isinstance(v, str):
        return _json_string(v)
    if isinstance(v, Mapping):
        return "{" + ",".join(f"{_json_string(str(k))}:{_go_json(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_go_json(x) for x in v) + "]"
    return _json_string(str(v))


def _fmt_v(v: object) -> str:
    """``fmt.Sprint(v)``: Go's default ``%v`` format."""
    if v is None or v is MISSING:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{_fmt_v(k)}:{_fmt_v(v[k])}" for k in _sorted_keys(v)) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_fmt_v(x) for x in v) + "]"
    return str(v)


_QUOTE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _quote_rune(ch: str, quote: str, ascii_only: bool) -> str:
    o = ord(ch)
    if ch == quote or ch == "\\":
        return "\\" + ch
    if ch == " " or (ch.isprintable() and not (ascii_only and o >= 0x80)):
        return ch
    if ch in _QUOTE_ESCAPES:
        return _QUOTE_ESCAPES[ch]
    if o < 0x20 or o == 0x7F:
        return f"\\x{o:02x}"
    if 0xD800 <= o <= 0xDFFF:
        return "\\ufffd"
    if o < 0x10000:
        return f"\\u{o:04x}"
    return f"\\U{o:08x}"


def _go_quote(s: str, ascii_only: bool = False) -> str:
    """``strconv.Quote`` (``QuoteToASCII`` with ``ascii_only``)."""
    return '"' + "".join(_quote_rune(c, '"', ascii_only) for c in s) + '"'


def _rune(v: int) -> str:
    return chr(v) if 0 <= v <= 0x10FFFF and not 0xD800 <= v <= 0xDFFF else "\ufffd"


@dataclass(slots=True)
class _Spec:
    """One ``%`` directive of a printf format: flags, width, precision."""

    flags: str = ""
    width: int | None = None
    prec: int | None = None

    def pad(self, s: str) -> str:
        if self.width is None or len(s) >= self.width:
            return s
        fill = " " * (self.width - len(s))
        return s + fill if "-" in self.flags else fill + s

    def sign(self, neg: bool) -> str:
        if neg:
            return "-"
        if "+" in self.flags:
            return "+"
        return " " if " " in self.flags else ""

    def pad_number(self, sign: str, body: str) -> str:
        """Zero padding goes between the sign and the digits, as in fmt."""
        if "0" in self.flags and "-" not in self.flags and self.width is not None:
            body = body.rjust(self.width - len(sign), "0")
        return self.pad(sign + body)


def _bad_verb(verb: str, v: object) -> str:
    if v is None or v is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({_type_name(v)}={_fmt_v(v)})"


def _fmt_int(v: int, verb: str, spec: _Spec) -> str:
    if verb == "c":
        return spec.pad(_rune(v))
    if verb == "q":
        return spec.pad("'" + _quote_rune(_rune(v), "'", "+" in spec.flags) + "'")
    if verb == "U":
        return spec.pad(f"U+{v % 2**64:04X}")  # fmt prints the uint64 bits
    base = {"d": "d", "v": "d", "b": "b", "o": "o", "O": "o", "x": "x", "X": "X"}[verb]
    digits = format(abs(v), base)
    if spec.prec is not None:
        digits = "" if spec.prec == 0 and v == 0 else digits.rjust(spec.prec, "0")
    prefix = ""
    if verb == "O":
        prefix = "0o"
    elif "#" in spec.flags and not (verb == "o" and digits.startswith("0")):
        prefix = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}.get(verb, "")
    sign = spec.sign(v < 0)
    if spec.prec is None and "0" in spec.flags and "-" not in spec.flags and spec.width is not None:
        digits = digits.rjust(spec.width - len(sign), "0")
    return spec.pad(sign + prefix + digits)


def _fmt_float(v: float, verb: str, spec: _Spec) -> str:
    if math.isnan(v) or math.isinf(v):
        text = "NaN" if math.isnan(v) else ("+Inf" if v > 0 else "-Inf")
        if text == "+Inf" and "+" not in spec.flags and " " in spec.flags:
            text = " Inf"
        return spec.pad(text)
    neg = math.copysign(1.0, v) < 0
    a = abs(v)
    if verb in "vgG":
        body = _go_float(a) if spec.prec is None else format(a, f".{max(spec.prec, 1)}g")
        if verb == "G":
            body = body.upper()
    elif verb in "eE":
        body = format(a, f".{6 if spec.prec is None else spec.prec}{verb}")
    else:  # f, F
        body = format(a, f".{6 if spec.prec is None else spec.prec}f")
    return spec.pad_number(spec.sign(neg), body)


def _fmt_str(v: str, verb: str, spec: _Spec) -> str:
    if verb in "vs":
        return spec.pad(v if spec.prec is None else v[: spec.prec])
    if verb == "q":
        if "#" in spec.flags and _can_backquote(v):
            return spec.pad("`" + v + "`")
        return spec.pad(_go_quote(v, ascii_only="+" in spec.flags))
    raw = v.encode("utf-8", "replace")
    text = raw.hex() if verb == "x" else raw.hex().upper()
    if " " in spec.flags:
        text = " ".join(text[i : i + 2] for i in range(0, len(text), 2))
    return spec.pad(text)


def _can_backquote(s: str) -> bool:
    """strconv.CanBackquote: no control characters but tab, no backquote, no BOM."""
    for c in s:
        o = ord(c)
        if o >= 0x80:
            if c == "\ufeff" or 0xD800 <= o <= 0xDFFF:
                return False
        elif (o < 0x20 and c != "\t") or c == "`" or o == 0x7F:
            return False
    return True


def _fmt_value(v: object, verb: str, spec: _Spec, depth: int) -> str:
    """fmt's printArg/printValue for one operand and one verb."""
    if v is None or v is MISSING:
        # A nil operand is a bad verb except for %v; a nil element of a
        # list or map prints <nil> whatever the verb (print.go printValue).
        if depth > 0 or verb == "v":
            return spec.pad("<nil>")
        return _bad_verb(verb, v)
    if isinstance(v, bool):
        return spec.pad("true" if v else "false") if verb in "tv" else _bad_verb(verb, v)
    if isinstance(v, int):
        return _fmt_int(v, verb, spec) if verb in "bcdoOqxXUv" else _bad_verb(verb, v)
    if isinstance(v, float):
        return _fmt_float(v, verb, spec) if verb in "eEfFgGv" else _bad_verb(verb, v)
    if isinstance(v, str):
        return _fmt_str(v, verb, spec) if verb in "vsqxX" else _bad_verb(verb, v)
    if isinstance(v, Mapping):
        items = (
            f"{_fmt_value(k, verb, spec, depth + 1)}:{_fmt_value(v[k], verb, spec, depth + 1)}"
            for k in _sorted_keys(v)
        )
        return "map[" + " ".join(items) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_fmt_value(x, verb, spec, depth + 1) for x in v) + "]"
    return spec.pad(str(v))


def _sprintf(fmt: str, args: Sequence[object]) -> str:
    """``fmt.Sprintf`` for flags ``#0+- ``, width, precision and the common verbs."""
    out: list[str] = []
    n = len(fmt)
    i = 0
    argi = 0
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        spec = _Spec()
        while i < n and fmt[i] in "#0+- ":
            spec.flags += fmt[i]
            i += 1
        for which in ("width", "prec"):
            if which == "prec":
                if i < n and fmt[i] == ".":
                    i += 1
                    spec.prec = 0
                else:
                    break
            if i < n and fmt[i] == "*":
                i += 1
                star = args[argi] if argi < len(args) else None
                argi += 1
                if isinstance(star, int) and not isinstance(star, bool):
                    setattr(spec, which, star)
                else:
                    out.append("%!(BADWIDTH)" if which == "width" else "%!(BADPREC)")
                continue
            start = i
            while i < n and fmt[i].isdigit():
                i += 1
            if i > start:
                setattr(spec, which, int(fmt[start:i]))
        if spec.width is not None and spec.width < 0:
            spec.flags += "-"
            spec.width = -spec.width
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        if verb == "T":
            out.append(spec.pad(_type_name(arg)))
        else:
            out.append(_fmt_value(arg, verb, spec, 0))
    if argi < len(args):
        extra = ", ".join(
            "<nil>" if a is None else f"{_type_name(a)}={_fmt_v(a)}" for a in args[argi:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


# --- template functions ---------------------------------------------------------------


def _ind(v: object) -> object:
    """Go's ``indirectInterface``: a nil interface becomes the invalid value."""
    return MISSING if v is None else v


def _basic_kind(v: object) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return "invalid"


def _f_eq(a: object, *bs: object) -> bool:
    """funcs.go eq: basic kinds compare by value; nil equals only nil."""
    a = _ind(a)
    if not bs:
        raise _CallError("missing argument for comparison")
    k1 = _basic_kind(a)
    for b in bs:
        b = _ind(b)
        k2 = _basic_kind(b)
        if k1 != k2:
            if a is not MISSING and b is not MISSING:
                raise _CallError(
                    f"incompatible types for comparison: {_type_name(a)} and {_type_name(b)}"
                )
            truth = False
        elif k1 != "invalid":
            truth = a == b
        else:
            same_kind = _type_name(a) == _type_name(b)
            if not (same_kind or a is MISSING or b is MISSING):
                raise _CallError(
                    f"non-comparable types {_fmt_v(a)}: {_type_name(a)}, {_type_name(b)}: {_fmt_v(b)}"
                )
            if a is MISSING or b is MISSING:
                truth = a is b
            else:
                raise _CallError(f"non-comparable type {_fmt_v(b)}: {_type_name(b)}")
        if truth:
            return True
    return False


def _f_ne(a: object, b: object) -> bool:
    return not _f_eq(a, b)


def _f_lt(a: object, b: object) -> bool:
    a, b = _ind(a), _ind(b)
    k1, k2 = _basic_kind(a), _basic_kind(b)
    if k1 == "invalid" or k2 == "invalid":
        raise _CallError("invalid type for comparison")
    if k1 != k2:
        raise _CallError(f"incompatible types for comparison: {_type_name(a)} and {_type_name(b)}")
    if k1 == "bool":
        raise _CallError("invalid type for comparison")
    return bool(a < b)  # type: ignore[operator]


def _f_le(a: object, b: object) -> bool:
    return _f_lt(a, b) or _f_eq(a, b)


def _f_gt(a: object, b: object) -> bool:
    return not _f_le(a, b)


def _f_ge(a: object, b: object) -> bool:
    return not _f_lt(a, b)


def _f_not(a: object) -> bool:
    return not _truth(_ind(a))


def _f_len(v: object) -> int:
    if v is None or v is MISSING:
        raise _CallError("len of nil pointer")
    if isinstance(v, str):
        return len(v.encode("utf-8", "surrogatepass"))  # Go strings are bytes
    if isinstance(v, (Mapping, list, tuple)):
        return len(v)
    raise _CallError(f"len of type {_type_name(v)}")


def _index_arg(i: object, cap: int) -> int:
    if isinstance(i, int) and not isinstance(i, bool):
        if i < 0 or i > cap:
            raise _CallError(f"index out of range: {i}")
        return i
    if i is MISSING:
        raise _CallError("cannot index slice/array with nil")
    raise _CallError(f"cannot index slice/array with type {_type_name(i)}")


def _f_index(item: object, *indexes: object) -> object:
    """funcs.go index: ``index x 1 2`` is x[1][2]; a missing map key is nil."""
    item = _ind(item)
    if item is MISSING:
        raise _CallError("index of untyped nil")
    for i in indexes:
        i = _ind(i)
        if item is None or item is MISSING:
            raise _CallError("index of nil pointer")
        if isinstance(item, str):
            raw = item.encode("utf-8", "surrogatepass")
            x = _index_arg(i, len(raw))
            if x == len(raw):
                raise _CallError(f"index out of range: {x}")
            item = raw[x]  # a byte, as Go's s[i]
        elif isinstance(item, (list, tuple)):
            x = _index_arg(i, len(item))
            if x == len(item):
                raise _CallError(f"index out of range: {x}")
            item = item[x]
        elif isinstance(item, Mapping):
            if i is MISSING:
                raise _CallError("value is nil; should be of type string")
            if not isinstance(i, str):
                raise _CallError(f"value has type {_type_name(i)}; should be string")
            item = item.get(i)
        else:
            raise _CallError(f"can't index item of type {_type_name(item)}")
    return item


def _f_slice(item: object, *indexes: object) -> object:
    """funcs.go slice: ``slice x 1 2`` is x[1:2]; strings are sliced by bytes."""
    item = _ind(item)
    if item is MISSING:
        raise _CallError("slice of untyped nil")
    if len(indexes) > 3:
        raise _CallError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise _CallError("cannot 3-index slice a string")
        raw = item.encode("utf-8", "surrogatepass")
        length = len(raw)
    elif isinstance(item, (list, tuple)):
        length = len(item)
    else:
        raise _CallError(f"can't slice item of type {_type_name(item)}")
    idx = [0, length, length]
    for k, i in enumerate(indexes):
        idx[k] = _index_arg(_ind(i), length)
    if idx[0] > idx[1]:
        raise _CallError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise _CallError(f"invalid slice index: {idx[1]} > {idx[2]}")
    if isinstance(item, str):
        return raw[idx[0] : idx[1]].decode("utf-8", "replace")
    return list(item[idx[0] : idx[1]])


def _f_print(*args: object) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out: list[str] = []
    prev_string = False
    for n, a in enumerate(args):
        is_string = isinstance(a, str)
        if n > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append(_fmt_v(a))
        prev_string = is_string
    return "".join(out)


def _f_println(*args: object) -> str:
    """fmt.Sprintln: always a space between operands, and a newline."""
    return " ".join(_fmt_v(a) for a in args) + "\n"


def _f_printf(fmt: str, *args: object) -> str:
    return _sprintf(fmt, args)


def _eval_args(args: Sequence[object]) -> str:
    """funcs.go evalArgs: like Sprint, but a nil operand is ``<no value>``."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return _f_print(*("<no value>" if a is None else a for a in args))


def _f_html(*args: object) -> str:
    s = _eval_args(args)
    # funcs.go HTMLEscape, including its NUL -> U+FFFD
    for a, b in (
        ("&", "&amp;"),
        ("'", "&#39;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ('"', "&#34;"),
        ("\0", "\ufffd"),
    ):
        s = s.replace(a, b)
    return s


def _f_urlquery(*args: object) -> str:
    return urllib.parse.quote_plus(_eval_args(args), safe="")


def _f_json(v: object) -> str:
    """Docker's ``json``: encoding/json, HTML left alone, no trailing newline.

    On a value encoding/json refuses (NaN), Docker's helper ignores the
    error and prints nothing; so do we.
    """
    try:
        return _go_json(v)
    except _Unsupported:
        return ""


def _map_runes(s: str, f: Callable[[str], str]) -> str:
    """Per-rune case mapping, as Go's unicode.To*: never one rune into two (ß stays ß)."""
    out = []
    for c in s:
        m = f(c)
        out.append(m if len(m) == 1 else c)
    return "".join(out)


def _f_lower(s: str) -> str:
    return _map_runes(s, str.lower)


def _f_upper(s: str) -> str:
    return _map_runes(s, str.upper)


def _is_separator(c: str) -> bool:
    """strings.Title's word boundary (strings.go isSeparator)."""
    if c.isascii():
        return not (c.isalnum() or c == "_")
    if c.isalpha() or unicodedata.category(c) == "Nd":
        return False
    return c.isspace()


def _f_title(s: str) -> str:
    """strings.Title: upper-case the first letter of each word, leave the rest."""
    out = []
    prev = " "
    for c in s:
        if _is_separator(prev):
            t = c.title() if len(c.title()) == 1 else c
            out.append(t)
        else:
            out.append(c)
        prev = c
    return "".join(out)


def _f_split(s: str, sep: str) -> list[object]:
    """strings.Split: an empty separator splits into characters."""
    if sep == "":
        return list(s)
    return list(s.split(sep))


def _f_join(elems: list[object], sep: str) -> str:
    return sep.join(str(e) for e in elems)


def _f_pad(s: str, prefix: int, suffix: int) -> str:
    """Docker's pad: spaces around a non-empty string."""
    if s == "":
        return s
    if prefix < 0 or suffix < 0:
        raise _CallError("strings: negative Repeat count")
    return " " * prefix + s + " " * suffix


def _f_truncate(s: str, length: int) -> str:
    """Docker's truncate: the first ``length`` bytes (Go slices strings by byte)."""
    raw = s.encode("utf-8", "surrogatepass")
    if len(raw) < length:
        return s
    if length < 0:
        raise _CallError(f"slice bounds out of range [:{length}]")
    return raw[:length].decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class _Func:
    params: tuple[str, ...]
    variadic: str | None
    impl: Callable[..., object]


_FUNCS: dict[str, _Func] = {
    # Go builtins (text/template funcs.go)
    "and": _Func((_VALUE,), _VALUE, lambda *a: None),  # special-cased: short-circuit
    "or": _Func((_VALUE,), _VALUE, lambda *a: None),  # special-cased: short-circuit
    "not": _Func((_VALUE,), None, _f_not),
    "eq": _Func((_VALUE,), _VALUE, _f_eq),
    "ne": _Func((_VALUE, _VALUE), None, _f_ne),
    "lt": _Func((_VALUE, _VALUE), None, _f_lt),
    "le": _Func((_VALUE, _VALUE), None, _f_le),
    "gt": _Func((_VALUE, _VALUE), None, _f_gt),
    "ge": _Func((_VALUE, _VALUE), None, _f_ge),
    "len": _Func((_VALUE,), None, _f_len),
    "index": _Func((_VALUE,), _VALUE, _f_index),
    "slice": _Func((_VALUE,), _VALUE, _f_slice),
    "print": _Func((), _ANY, _f_print),
    "printf": _Func((_STRING,), _ANY, _f_printf),
    "println": _Func((), _ANY, _f_println),
    "html": _Func((), _ANY, _f_html),
    "urlquery": _Func((), _ANY, _f_urlquery),
    # Docker's additions (docker/cli templates/templates.go)
    "json": _Func((_ANY,), None, _f_json),
    "split": _Func((_STRING, _STRING), None, _f_split),
    "join": _Func((_STRINGS, _STRING), None, _f_join),
    "title": _Func((_STRING,), None, _f_title),
    "lower": _Func((_STRING,), None, _f_lower),
    "upper": _Func((_STRING,), None, _f_upper),
    "pad": _Func((_STRING, _INT, _INT), None, _f_pad),
    "truncate": _Func((_STRING, _INT), None, _f_truncate),
}

#: Names a template may call.
SUPPORTED_FUNCTIONS: tuple[str, ...] = tuple(sorted(_FUNCS))

_HINT = (
    "supported: {{.Field}}, {{$var}}, {{if}}/{{else if}}/{{else}}/{{end}}, {{range}}, "
    "{{with}}, {{break}}, {{continue}}, {{/* comment */}}, {{- trim -}}, pipes '|', "
    "and the functions " + ", ".join(SUPPORTED_FUNCTIONS)
)
_EXEC_HINT = "print the whole value with --format '{{json .}}' to see its fields and types"


# --- source positions and errors ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Src:
    text: str

    def where(self, pos: int) -> str:
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        if "\n" not in self.text:
            return f"column {col}"
        return f"line {self.text.count(chr(10), 0, pos) + 1}, column {col}"

    def error(self, pos: int, what: str, hint: str = _HINT) -> TemplateError:
        return TemplateError(f"invalid template: {self.where(pos)}: {what}", hint=hint)


# --- lexer (parse/lex.go) -------------------------------------------------------------------

_SPACE = " \t\r\n"
_KEYWORDS = frozenset(
    {"block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"}
)

# token kinds
_TEXT = "text"
_LEFT = "{{"
_RIGHT = "}}"
_WS = "space"
_ASSIGN = "="
_DECLARE = ":="
_PIPE = "|"
_STR = "string"
_RAW = "raw string"
_CHARCONST = "character constant"
_FIELD = "field"
_IDENT = "identifier"
_NUMBER = "number"
_LPAREN = "("
_RPAREN = ")"
_VAR = "variable"
_DOT = "."
_BOOL = "bool"
_NIL = "nil"
_CHAR = "char"
_KEYWORD = "keyword"
_EOF = "EOF"


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    val: str
    pos: int

    def describe(self) -> str:
        if self.kind == _EOF:
            return "end of template"
        if self.kind == _KEYWORD:
            return "{{" + self.val + "}}" if self.val in ("end", "else") else f"<{self.val}>"
        if self.kind == _WS:
            return "space"
        return '"' + (self.val if len(self.val) <= 10 else self.val[:10] + "...") + '"'


def _is_alnum(c: str) -> bool:
    return c == "_" or c.isalpha() or unicodedata.category(c) == "Nd"


def _describe_char(c: str) -> str:
    return f"U+{ord(c):04X} {c!r}"


def _has_left_trim(s: str, p: int) -> bool:
    return p + 1 < len(s) and s[p] == "-" and s[p + 1] in _SPACE


def _right_delim(s: str, p: int) -> tuple[bool, bool]:
    """At ``}}`` or `` -}}``? Returns (delimiter, trims)."""
    if p + 1 < len(s) and s[p] in _SPACE and s[p + 1] == "-" and s.startswith("}}", p + 2):
        return True, True
    return s.startswith("}}", p), False


def _skip_space(s: str, p: int) -> int:
    while p < len(s) and s[p] in _SPACE:
        p += 1
    return p


def _at_terminator(s: str, p: int) -> bool:
    return p >= len(s) or s[p] in _SPACE or s[p] in ".,|:)(" or s.startswith("}}", p)


def _scan_number(s: str, p: int) -> tuple[int, bool]:
    """lex.go scanNumber: a loose scan; the parser validates the text."""
    n = len(s)

    def accept(valid: str) -> bool:
        nonlocal p
        if p < n and s[p] in valid:
            p += 1
            return True
        return False

    def accept_run(valid: str) -> None:
        while accept(valid):
            pass

    accept("+-")
    digits = "0123456789_"
    if accept("0"):
        if accept("xX"):
            digits = "0123456789abcdefABCDEF_"
        elif accept("oO"):
            digits = "01234567_"
        elif accept("bB"):
            digits = "01_"
    accept_run(digits)
    if accept("."):
        accept_run(digits)
    if len(digits) == 11 and accept("eE"):
        accept("+-")
        accept_run("0123456789_")
    if len(digits) == 23 and accept("pP"):
        accept("+-")
        accept_run("0123456789_")
    accept("i")
    if p < n and _is_alnum(s[p]):
        return p + 1, False
    return p, True


def _scan_quoted(src: _Src, p: int, quote: str, what: str) -> int:
    s = src.text
    j = p + 1
    while True:
        if j >= len(s) or s[j] == "\n":
            raise src.error(p, f"unterminated {what}")
        if s[j] == "\\":
            if j + 1 >= len(s) or s[j + 1] == "\n":
                raise src.error(p, f"unterminated {what}")
            j += 2
            continue
        j += 1
        if s[j - 1] == quote:
            return j


def _lex(src: _Src) -> list[_Tok]:
    s = src.text
    n = len(s)
    toks: list[_Tok] = []
    pos = 0
    while True:
        left = s.find("{{", pos)
        if left < 0:
            if pos < n:
                toks.append(_Tok(_TEXT, s[pos:], pos))
            toks.append(_Tok(_EOF, "", n))
            return toks
        trim = _has_left_trim(s, left + 2)
        text = s[pos:left]
        if trim:
            text = text.rstrip(_SPACE)
        if text:
            toks.append(_Tok(_TEXT, text, pos))
        inner = left + 2 + (2 if trim else 0)
        if s.startswith("/*", inner):
            end = s.find("*/", inner + 2)
            if end < 0:
                raise src.error(left, "unclosed comment: a comment ends with */}}")
            delim, rtrim = _right_delim(s, end + 2)
            if not delim:
                raise src.error(left, "comment ends before closing delimiter: write {{/* ... */}}")
            pos = end + 2 + (2 if rtrim else 0) + 2
            if rtrim:
                pos = _skip_space(s, pos)
            continue
        toks.append(_Tok(_LEFT, "{{", left))
        pos = _lex_action(src, inner, left, toks)


def _lex_action(src: _Src, pos: int, left: int, toks: list[_Tok]) -> int:
    """Tokens of one action; returns the position after its ``}}``."""
    s = src.text
    n = len(s)
    paren = 0
    while True:
        delim, rtrim = _right_delim(s, pos)
        if delim:
            if paren > 0:
                raise src.error(pos, "unclosed left paren: missing ')'")
            if rtrim:
                pos += 2
            toks.append(_Tok(_RIGHT, "}}", pos))
            pos += 2
            return _skip_space(s, pos) if rtrim else pos
        if pos >= n:
            raise src.error(left, "unclosed action: missing }}")
        c = s[pos]
        start = pos
        if c in _SPACE:
            pos += 1
            while pos < n and s[pos] in _SPACE and not _right_delim(s, pos)[1]:
                pos += 1
            toks.append(_Tok(_WS, s[start:pos], start))
        elif c == "=":
            pos += 1
            toks.append(_Tok(_ASSIGN, "=", start))
        elif c == ":":
            if not s.startswith(":=", pos):
                raise src.error(pos, "expected :=")
            pos += 2
            toks.append(_Tok(_DECLARE, ":=", start))
        elif c == "|":
            pos += 1
            toks.append(_Tok(_PIPE, "|", start))
        elif c == '"':
            pos = _scan_quoted(src, pos, '"', "quoted string")
            toks.append(_Tok(_STR, s[start:pos], start))
        elif c == "`":
            end = s.find("`", pos + 1)
            if end < 0:
                raise src.error(pos, "unterminated raw quoted string")
            pos = end + 1
            toks.append(_Tok(_RAW, s[start:pos], start))
        elif c == "'":
            pos = _scan_quoted(src, pos, "'", "character constant")
            toks.append(_Tok(_CHARCONST, s[start:pos], start))
        elif c in "$." and not (c == "." and (pos + 1 >= n or "0" <= s[pos + 1] <= "9")):
            # lexFieldOrVariable: '$' or '.' then an alphanumeric word
            pos += 1
            if _at_terminator(s, pos):
                toks.append(_Tok(_VAR if c == "$" else _DOT, c, start))
                continue
            while pos < n and _is_alnum(s[pos]):
                pos += 1
            if not _at_terminator(s, pos):
                raise src.error(pos, f"bad character {_describe_char(s[pos])}")
            toks.append(_Tok(_VAR if c == "$" else _FIELD, s[start:pos], start))
        elif c in "+-." or "0" <= c <= "9":
            pos, ok = _scan_number(s, pos)
            if not ok:
                raise src.error(start, f"bad number syntax: {_go_quote(s[start:pos])}")
            if (pos < n and s[pos] in "+-") or s[pos - 1] == "i":
                raise src.error(start, "complex numbers are not supported")
            toks.append(_Tok(_NUMBER, s[start:pos], start))
        elif _is_alnum(c):
            while pos < n and _is_alnum(s[pos]):
                pos += 1
            if not _at_terminator(s, pos):
                raise src.error(pos, f"bad character {_describe_char(s[pos])}")
            word = s[start:pos]
            if word in _KEYWORDS:
                toks.append(_Tok(_KEYWORD, word, start))
            elif word in ("true", "false"):
                toks.append(_Tok(_BOOL, word, start))
            elif word == "nil":
                toks.append(_Tok(_NIL, word, start))
            else:
                toks.append(_Tok(_IDENT, word, start))
        elif c == "(":
            paren += 1
            pos += 1
            toks.append(_Tok(_LPAREN, c, start))
        elif c == ")":
            paren -= 1
            if paren < 0:
                raise src.error(pos, "unexpected right paren")
            pos += 1
            toks.append(_Tok(_RPAREN, c, start))
        elif c.isascii() and c.isprintable():
            pos += 1
            toks.append(_Tok(_CHAR, c, start))
        else:
            raise src.error(pos, f"unrecognized character in action: {_describe_char(c)}")


# --- literals (strconv) ----------------------------------------------------------------------


def _underscore_ok(s: str) -> bool:
    """strconv underscoreOK: '_' only between digits (or after a base prefix)."""
    saw = "^"
    i = 0
    if s[:1] in ("+", "-"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i = 2
        saw = "0"
        hexa = s[1].lower() == "x"
    while i < len(s):
        c = s[i]
        if "0" <= c <= "9" or (hexa and "a" <= c.lower() <= "f"):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
        i += 1
    return saw != "_"


def _parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64): 0x, 0o, 0b and leading-0 octal, underscores."""
    if not _underscore_ok(text):
        return None
    s = text.replace("_", "")
    sign = 1
    if s and s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    base = 10
    if len(s) >= 2 and s[0] == "0" and s[1] in "xXoObB":
        base = {"x": 16, "o": 8, "b": 2}[s[1].lower()]
        s = s[2:]
    elif len(s) >= 2 and s[0] == "0":
        base = 8
        s = s[1:]
    if not s or not all(c.isalnum() for c in s):
        return None
    try:
        v = sign * int(s, base)
    except ValueError:
        return None
    return v if -(2**63) <= v < 2**63 else None


def _parse_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64) for decimal and hexadecimal (0x1p-2) literals."""
    if not _underscore_ok(text):
        return None
    s = text.replace("_", "")
    body = s.lstrip("+-")
    try:
        if body[:2].lower() == "0x":
            if "p" not in body.lower():
                return None
            return float.fromhex(s)
        if not body or not (body[0].isdigit() or body[0] == "."):
            return None
        return float(s)
    except ValueError:
        return None


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def _unescape(body: str, quote: str) -> tuple[bytes, list[int]]:
    """Go escape sequences of a quoted literal: the bytes, and each code point read."""
    out = bytearray()
    runes: list[int] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8", "surrogatepass")
            runes.append(ord(c))
            i += 1
            continue
        e = body[i + 1] if i + 1 < len(body) else ""
        if e in _SIMPLE_ESCAPES or e == quote:
            v = _SIMPLE_ESCAPES.get(e, ord(e))
            out.append(v)
            runes.append(v)
            i += 2
        elif e == "x":
            v = int(body[i + 2 : i + 4], 16) if _is_hex(body[i + 2 : i + 4], 2) else -1
            if v < 0:
                raise ValueError("\\x needs two hex digits")
            out.append(v)
            runes.append(v)
            i += 4
        elif e in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
                raise ValueError("an octal escape is three digits up to \\377")
            out.append(int(digits, 8))
            runes.append(int(digits, 8))
            i += 4
        elif e in "uU":
            width = 4 if e == "u" else 8
            digits = body[i + 2 : i + 2 + width]
            if not _is_hex(digits, width):
                raise ValueError(f"\\{e} needs {width} hex digits")
            v = int(digits, 16)
            if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
                raise ValueError(f"\\{e}{digits} is not a valid code point")
            out += chr(v).encode("utf-8")
            runes.append(v)
            i += 2 + width
        else:
            raise ValueError(f"unknown escape sequence \\{e}")
    return bytes(out), runes


def _is_hex(s: str, width: int) -> bool:
    return len(s) == width and all(c in "0123456789abcdefABCDEF" for c in s)


def _unquote(tok: _Tok, src: _Src) -> str:
    """strconv.Unquote of a "..." or `...` literal."""
    if tok.kind == _RAW:
        return tok.val[1:-1].replace("\r", "")
    try:
        raw, _ = _unescape(tok.val[1:-1], '"')
    except ValueError as e:
        raise src.error(tok.pos, f"invalid string {tok.val}: {e}") from None
    return raw.decode("utf-8", "replace")


def _unquote_char(tok: _Tok, src: _Src) -> int:
    try:
        _, runes = _unescape(tok.val[1:-1], "'")
    except ValueError as e:
        raise src.error(tok.pos, f"invalid character constant {tok.val}: {e}") from None
    if len(runes) != 1:
        raise src.error(tok.pos, f"malformed character constant: {tok.val}")
    return runes[0]


# --- parse tree (parse/node.go) ----------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    pos: int


@dataclass(slots=True)
class _TextN(_Node):
    text: str


@dataclass(slots=True)
class _DotN(_Node):
    def __str__(self) -> str:
        return "."


@dataclass(slots=True)
class _NilN(_Node):
    def __str__(self) -> str:
        return "nil"


@dataclass(slots=True)
class _BoolN(_Node):
    val: bool

    def __str__(self) -> str:
        return "true" if self.val else "false"


@dataclass(slots=True)
class _NumN(_Node):
    text: str
    int_val: int | None
    float_val: float | None
    is_char: bool = False

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class _StrN(_Node):
    quoted: str
    text: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(slots=True)
class _FieldN(_Node):
    idents: tuple[str, ...]

    def __str__(self) -> str:
        return "." + ".".join(self.idents)


@dataclass(slots=True)
class _VarN(_Node):
    idents: tuple[str, ...]  # idents[0] is "$name"

    def __str__(self) -> str:
        return ".".join(self.idents)


@dataclass(slots=True)
class _IdentN(_Node):
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(slots=True)
class _CmdN(_Node):
    args: list[_Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, _PipeN) else str(a) for a in self.args)


@dataclass(slots=True)
class _PipeN(_Node):
    decls: list[str] = field(default_factory=list)
    is_assign: bool = False
    cmds: list[_CmdN] = field(default_factory=list)

    def __str__(self) -> str:
        head = ""
        if self.decls:
            head = ", ".join(self.decls) + (" = " if self.is_assign else " := ")
        return head + " | ".join(str(c) for c in self.cmds)


@dataclass(slots=True)
class _ChainN(_Node):
    node: _Node
    fields: tuple[str, ...]

    def __str__(self) -> str:
        base = f"({self.node})" if isinstance(self.node, _PipeN) else str(self.node)
        return base + "." + ".".join(self.fields)


@dataclass(slots=True)
class _ActionN(_Node):
    pipe: _PipeN


@dataclass(slots=True)
class _ControlN(_Node):
    kind: str  # "if", "range" or "with"
    pipe: _PipeN
    body: list[_Node]
    else_body: list[_Node] | None


@dataclass(slots=True)
class _BreakN(_Node):
    pass


@dataclass(slots=True)
class _ContinueN(_Node):
    pass


@dataclass(slots=True)
class _EndN(_Node):
    pass


@dataclass(slots=True)
class _ElseN(_Node):
    pass


# --- parser (parse/parse.go) ------------------------------------------------------------------

_OPERAND_START = frozenset(
    {_BOOL, _CHARCONST, _DOT, _FIELD, _IDENT, _NUMBER, _NIL, _RAW, _STR, _VAR, _LPAREN}
)
_MAX_PAREN_DEPTH = 100


class _Parser:
    def __init__(self, src: _Src) -> None:
        self.src = src
        self.toks = _lex(src)
        self.i = 0
        self.vars = ["$"]
        self.range_depth = 0
        self.paren_depth = 0

    def next(self) -> _Tok:
        tok = self.toks[min(self.i, len(self.toks) - 1)]
        self.i += 1
        return tok

    def peek(self) -> _Tok:
        return self.toks[min(self.i, len(self.toks) - 1)]

    def next_ns(self) -> _Tok:
        tok = self.next()
        while tok.kind == _WS:
            tok = self.next()
        return tok

    def peek_ns(self) -> _Tok:
        tok = self.next_ns()
        self.i -= 1
        return tok

    def unexpected(self, tok: _Tok, context: str) -> TemplateError:
        return self.src.error(tok.pos, f"unexpected {tok.describe()} in {context}")

    def expect(self, kind: str, context: str) -> _Tok:
        tok = self.next_ns()
        if tok.kind != kind:
            raise self.unexpected(tok, context)
        return tok

    def parse(self) -> list[_Node]:
        nodes: list[_Node] = []
        while self.peek().kind != _EOF:
            node = self.text_or_action()
            if isinstance(node, (_EndN, _ElseN)):
                word = "end" if isinstance(node, _EndN) else "else"
                raise self.src.error(
                    node.pos,
                    f"unexpected {{{{{word}}}}}: there is no {{{{if}}}}, {{{{range}}}} or {{{{with}}}} open",
                )
            nodes.append(node)
        return nodes

    def item_list(self, kind: str, pos: int) -> tuple[list[_Node], _Node]:
        nodes: list[_Node] = []
        while self.peek_ns().kind != _EOF:
            node = self.text_or_action()
            if isinstance(node, (_EndN, _ElseN)):
                return nodes, node
            nodes.append(node)
        raise self.src.error(pos, f"unclosed {{{{{kind}}}}}: missing {{{{end}}}}")

    def text_or_action(self) -> _Node:
        tok = self.next_ns()
        if tok.kind == _TEXT:
            return _TextN(tok.pos, tok.val)
        if tok.kind == _LEFT:
            return self.action(tok.pos)
        raise self.unexpected(tok, "input")

    def action(self, left: int) -> _Node:
        tok = self.next_ns()
        if tok.kind == _KEYWORD:
            word = tok.val
            if word in ("define", "template", "block"):
                raise self.src.error(
                    tok.pos,
                    f"{{{{{word}}}}} is not supported: a format is one template, "
                    "named templates cannot be defined or called",
                )
            if word in ("break", "continue"):
                self.expect(_RIGHT, f"{{{{{word}}}}}")
                if self.range_depth == 0:
                    raise self.src.error(tok.pos, f"{{{{{word}}}}} outside {{{{range}}}}")
                return _BreakN(tok.pos) if word == "break" else _ContinueN(tok.pos)
            if word == "else":
                nxt = self.peek_ns()
                if not (nxt.kind == _KEYWORD and nxt.val in ("if", "with")):
                    self.expect(_RIGHT, "{{else}}")
                return _ElseN(tok.pos)
            if word == "end":
                self.expect(_RIGHT, "{{end}}")
                return _EndN(tok.pos)
            return self.control(word, left)
        self.i -= 1
        return _ActionN(left, self.pipeline("command", _RIGHT))

    def control(self, kind: str, pos: int) -> _Node:
        mark = len(self.vars)
        pipe = self.pipeline(kind, _RIGHT)
        if kind == "range":
            self.range_depth += 1
        body, nxt = self.item_list(kind, pos)
        if kind == "range":
            self.range_depth -= 1
        else_body: list[_Node] | None = None
        if isinstance(nxt, _ElseN):
            after = self.peek()
            if kind in ("if", "with") and after.kind == _KEYWORD and after.val == kind:
                # {{else if x}} is {{else}}{{if x}}...{{end}}, sharing the {{end}}.
                self.next()
                else_body = [self.control(kind, nxt.pos)]
            else:
                else_body, last = self.item_list(kind, pos)
                if not isinstance(last, _EndN):
                    raise self.src.error(
                        last.pos, f"second {{{{else}}}} in {{{{{kind}}}}}: expected {{{{end}}}}"
                    )
        del self.vars[mark:]
        return _ControlN(pos, kind, pipe, body, else_body)

    def pipeline(self, context: str, end: str) -> _PipeN:
        pipe = _PipeN(self.peek_ns().pos)
        while True:
            var = self.peek_ns()
            if var.kind != _VAR:
                break
            save = self.i
            self.next_ns()
            nxt = self.peek_ns()
            if nxt.kind in (_ASSIGN, _DECLARE):
                pipe.is_assign = nxt.kind == _ASSIGN
                self.next_ns()
                pipe.decls.append(var.val)
                self.vars.append(var.val)
                break
            if nxt.kind == _CHAR and nxt.val == ",":
                self.next_ns()
                pipe.decls.append(var.val)
                self.vars.append(var.val)
                if context == "range" and len(pipe.decls) < 2:
                    if self.peek_ns().kind in (_VAR, _RIGHT, _RPAREN):
                        continue
                    raise self.src.error(self.peek_ns().pos, "range can only initialize variables")
                raise self.src.error(nxt.pos, f"too many declarations in {context}")
            self.i = save
            break
        while True:
            tok = self.next_ns()
            if tok.kind == end:
                if not pipe.cmds:
                    raise self.src.error(tok.pos, f"missing value for {context}")
                for stage, cmd in enumerate(pipe.cmds[1:], start=2):
                    if isinstance(cmd.args[0], (_BoolN, _DotN, _NilN, _NumN, _StrN)):
                        raise self.src.error(
                            cmd.pos, f"non executable command in pipeline stage {stage}: {cmd}"
                        )
                return pipe
            if tok.kind in _OPERAND_START:
                self.i -= 1
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(tok, context)

    def command(self) -> _CmdN:
        cmd = _CmdN(self.peek_ns().pos)
        while True:
            self.peek_ns()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.kind == _WS:
                continue
            if tok.kind in (_RIGHT, _RPAREN):
                self.i -= 1
            elif tok.kind != _PIPE:
                raise self.unexpected(tok, "operand")
            break
        if not cmd.args:
            raise self.src.error(cmd.pos, "empty command")
        return cmd

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind == _FIELD:
            chain_pos = self.peek().pos
            fields: list[str] = []
            while self.peek().kind == _FIELD:
                fields.append(self.next().val[1:])
            if isinstance(node, _FieldN):
                return _FieldN(node.pos, node.idents + tuple(fields))
            if isinstance(node, _VarN):
                return _VarN(node.pos, node.idents + tuple(fields))
            if isinstance(node, (_BoolN, _StrN, _NumN, _NilN, _DotN)):
                raise self.src.error(chain_pos, f"unexpected . after term {_go_quote(str(node))}")
            return _ChainN(node.pos, node, tuple(fields))
        return node

    def term(self) -> _Node | None:
        tok = self.next_ns()
        kind = tok.kind
        if kind == _IDENT:
            if tok.val not in _FUNCS:
                what = "is not supported" if tok.val in ("call", "js") else "not defined"
                raise self.src.error(tok.pos, f'function "{tok.val}" {what}')
            return _IdentN(tok.pos, tok.val)
        if kind == _DOT:
            return _DotN(tok.pos)
        if kind == _NIL:
            return _NilN(tok.pos)
        if kind == _VAR:
            if tok.val not in self.vars:
                raise self.src.error(tok.pos, f'undefined variable "{tok.val}"')
            return _VarN(tok.pos, (tok.val,))
        if kind == _FIELD:
            return _FieldN(tok.pos, (tok.val[1:],))
        if kind == _BOOL:
            return _BoolN(tok.pos, tok.val == "true")
        if kind in (_NUMBER, _CHARCONST):
            return self.number(tok)
        if kind == _LPAREN:
            if self.paren_depth >= _MAX_PAREN_DEPTH:
                raise self.src.error(tok.pos, "max expression depth exceeded")
            self.paren_depth += 1
            try:
                return self.pipeline("parenthesized pipeline", _RPAREN)
            finally:
                self.paren_depth -= 1
        if kind in (_STR, _RAW):
            return _StrN(tok.pos, tok.val, _unquote(tok, self.src))
        self.i -= 1
        return None

    def number(self, tok: _Tok) -> _NumN:
        """parse/node.go newNumber: the literal's int and float readings."""
        if tok.kind == _CHARCONST:
            r = _unquote_char(tok, self.src)
            return _NumN(tok.pos, tok.val, r, float(r), is_char=True)
        iv = _parse_int(tok.val)
        if iv is not None:
            return _NumN(tok.pos, tok.val, iv, float(iv))
        fv = _parse_float(tok.val)
        if fv is None:
            raise self.src.error(tok.pos, f"illegal number syntax: {_go_quote(tok.val)}")
        if not any(c in tok.val for c in ".eEpP"):
            raise self.src.error(tok.pos, f"integer overflow: {_go_quote(tok.val)}")
        as_int = int(fv) if fv.is_integer() and -(2**63) <= fv < 2**63 else None
        return _NumN(tok.pos, tok.val, as_int, fv)


# --- evaluation (exec.go) -----------------------------------------------------------------------


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Exec:
    def __init__(self, src: _Src, data: object) -> None:
        self.src = src
        self.out: list[str] = []
        root = MISSING if data is None else data  # Go: reflect.ValueOf(nil) is invalid
        self.vars: list[list[object]] = [["$", root]]

    def error(self, node: _Node, what: str, hint: str = _EXEC_HINT) -> TemplateError:
        return TemplateError(
            f"template failed: {self.src.where(node.pos)}: <{node}>: {what}", hint=hint
        )

    # variables

    def var_value(self, node: _Node, name: str) -> object:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        raise self.error(node, f"undefined variable: {name}")

    def set_var(self, node: _Node, name: str, value: object) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        raise self.error(node, f"undefined variable: {name}")

    # walking

    def walk(self, dot: object, nodes: list[_Node]) -> None:
        for node in nodes:
            if isinstance(node, _TextN):
                self.out.append(node.text)
            elif isinstance(node, _ActionN):
                val = self.eval_pipeline(dot, node.pipe)
                if not node.pipe.decls:
                    self.out.append("<no value>" if val is MISSING else _fmt_v(val))
            elif isinstance(node, _ControlN):
                if node.kind == "range":
                    self.walk_range(dot, node)
                else:
                    self.walk_if_or_with(dot, node)
            elif isinstance(node, _BreakN):
                raise _Break
            elif isinstance(node, _ContinueN):
                raise _Continue

    def walk_if_or_with(self, dot: object, node: _ControlN) -> None:
        mark = len(self.vars)
        try:
            val = self.eval_pipeline(dot, node.pipe)
            if _truth(val):
                self.walk(val if node.kind == "with" else dot, node.body)
            elif node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: object, node: _ControlN) -> None:
        mark = len(self.vars)
        decls = node.pipe.decls
        assign = node.pipe.is_assign
        try:
            val = self.eval_pipeline(dot, node.pipe)
            inner = len(self.vars)

            def one(index: object, elem: object) -> None:
                if decls:
                    if assign:
                        self.set_var(node, decls[0], index if len(decls) > 1 else elem)
                    else:
                        self.vars[-1][1] = elem
                if len(decls) > 1:
                    if assign:
                        self.set_var(node, decls[1], elem)
                    else:
                        self.vars[-2][1] = index
                try:
                    self.walk(elem, node.body)
                except _Continue:
                    pass
                finally:
                    del self.vars[inner:]

            ran = False
            if val is MISSING:
                pass  # Go: an invalid value "acts like an empty map"
            elif isinstance(val, int) and not isinstance(val, bool):
                if len(decls) > 1:
                    raise self.error(
                        node.pipe, f"can't use {val} to iterate over more than one variable"
                    )
                for i in range(val):  # Go 1.22: range over an integer
                    ran = True
                    one(MISSING, i)
            elif isinstance(val, (list, tuple)):
                for i, elem in enumerate(val):
                    ran = True
                    one(i, elem)
            elif isinstance(val, Mapping):
                for key in _sorted_keys(val):
                    ran = True
                    one(key, val[key])
            else:
                raise self.error(node.pipe, f"range can't iterate over {_fmt_v(val)}")
            if not ran and node.else_body is not None:
                self.walk(dot, node.else_body)
        except _Break:
            pass
        finally:
            del self.vars[mark:]

    # evaluation

    def eval_pipeline(self, dot: object, pipe: _PipeN) -> object:
        value: object = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
            if value is None:
                value = MISSING  # exec.go: an interface{} result is unwrapped; nil is invalid
        for name in pipe.decls:
            if pipe.is_assign:
                self.set_var(pipe, name, value)
            else:
                self.vars.append([name, value])
        return value

    def not_a_function(self, cmd: _CmdN, final: object) -> None:
        if len(cmd.args) > 1 or final is not _NO_FINAL:
            raise self.error(cmd, f"can't give argument to non-function {cmd.args[0]}")

    def eval_command(self, dot: object, cmd: _CmdN, final: object) -> object:
        first = cmd.args[0]
        if isinstance(first, _FieldN):
            return self.eval_fields(dot, dot, first, first.idents, cmd, final)
        if isinstance(first, _ChainN):
            return self.eval_chain(dot, first, cmd, final)
        if isinstance(first, _IdentN):
            return self.eval_call(dot, first, cmd, final)
        if isinstance(first, _PipeN):
            self.not_a_function(cmd, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, _VarN):
            return self.eval_variable(dot, first, cmd, final)
        self.not_a_function(cmd, final)
        if isinstance(first, _BoolN):
            return first.val
        if isinstance(first, _DotN):
            return dot
        if isinstance(first, _NumN):
            return self.ideal_constant(first)
        if isinstance(first, _StrN):
            return first.text
        raise self.error(first, "nil is not a command")

    def ideal_constant(self, num: _NumN) -> object:
        """exec.go idealConstant: the literal's spelling picks int or float64."""
        text = num.text
        is_hex_int = (
            len(text) > 2
            and text[0] == "0"
            and text[1] in "xX"
            and not any(c in text for c in "pP")
        )
        if (
            num.float_val is not None
            and not num.is_char
            and not is_hex_int
            and any(c in text for c in ".eEpP")
        ):
            return num.float_val
        if num.int_val is not None:
            return num.int_val
        raise self.error(num, f"{text} overflows int")

    def eval_fields(
        self,
        dot: object,
        receiver: object,
        node: _Node,
        idents: Sequence[str],
        cmd: _CmdN | None,
        final: object,
    ) -> object:
        for name in idents[:-1]:
            receiver = self.eval_field(name, node, False, receiver)
        has_args = (cmd is not None and len(cmd.args) > 1) or final is not _NO_FINAL
        return self.eval_field(idents[-1], node, has_args, receiver)

    def eval_field(self, name: str, node: _Node, has_args: bool, receiver: object) -> object:
        if receiver is MISSING:
            return MISSING  # a field of a missing value is missing, silently (missingkey=default)
        if receiver is None:
            raise self.error(node, f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, Mapping):
            if has_args:
                raise self.error(node, f"{name} is not a method but has arguments")
            return receiver.get(name, MISSING)
        raise self.error(node, f"can't evaluate field {name} in type {_type_name(receiver)}")

    def eval_chain(self, dot: object, chain: _ChainN, cmd: _CmdN | None, final: object) -> object:
        if isinstance(chain.node, _NilN):
            raise self.error(chain, f"indirection through explicit nil in {chain}")
        base = self.eval_arg(dot, None, chain.node)
        return self.eval_fields(dot, base, chain, chain.fields, cmd, final)

    def eval_variable(self, dot: object, var: _VarN, cmd: _CmdN | None, final: object) -> object:
        value = self.var_value(var, var.idents[0])
        if len(var.idents) == 1:
            if cmd is not None:
                self.not_a_function(cmd, final)
            return value
        return self.eval_fields(dot, value, var, var.idents[1:], cmd, final)

    def eval_call(self, dot: object, ident: _IdentN, cmd: _CmdN | None, final: object) -> object:
        name = ident.name
        fn = _FUNCS[name]
        where: _Node = cmd if cmd is not None else ident
        args = cmd.args[1:] if cmd is not None else []
        num_in = len(args) + (0 if final is _NO_FINAL else 1)
        num_fixed = len(fn.params)
        if fn.variadic is not None:
            if num_in < num_fixed:
                raise self.error(
                    where,
                    f"wrong number of args for {name}: want at least {num_fixed} got {len(args)}",
                )
        elif num_in != num_fixed:
            raise self.error(
                where, f"wrong number of args for {name}: want {num_fixed} got {num_in}"
            )
        if name in ("and", "or"):
            # exec.go: and/or evaluate their arguments lazily and return one of them.
            v: object = MISSING
            for arg in args:
                v = self.eval_arg(dot, _VALUE, arg)
                if _truth(_ind(v)) == (name == "or"):
                    return v
            if final is not _NO_FINAL:
                v = final
            return v
        argv: list[object] = []
        for i, arg in enumerate(args):
            typ = fn.params[i] if i < num_fixed else fn.variadic
            argv.append(self.eval_arg(dot, typ, arg))
        if final is not _NO_FINAL:
            if fn.variadic is None or num_in - 1 < num_fixed:
                typ = fn.params[num_in - 1]
            else:
                typ = fn.variadic
            argv.append(self.validate(where, final, typ))
        try:
            return fn.impl(*argv)
        except _CallError as e:
            raise self.error(where, f"error calling {name}: {e}", hint=_HINT) from None

    def eval_arg(self, dot: object, typ: str | None, node: _Node) -> object:
        if isinstance(node, _DotN):
            return self.validate(node, dot, typ)
        if isinstance(node, _NilN):
            if typ in (_ANY, None):
                return None
            if typ == _VALUE:
                return MISSING
            if typ == _STRINGS:
                return []
            raise self.error(node, f"cannot assign nil to {typ}")
        if isinstance(node, _FieldN):
            return self.validate(
                node, self.eval_fields(dot, dot, node, node.idents, None, _NO_FINAL), typ
            )
        if isinstance(node, _VarN):
            return self.validate(node, self.eval_variable(dot, node, None, _NO_FINAL), typ)
        if isinstance(node, _PipeN):
            return self.validate(node, self.eval_pipeline(dot, node), typ)
        if isinstance(node, _IdentN):
            return self.validate(node, self.eval_call(dot, node, None, _NO_FINAL), typ)
        if isinstance(node, _ChainN):
            return self.validate(node, self.eval_chain(dot, node, None, _NO_FINAL), typ)
        # a literal
        if typ == _INT:
            if isinstance(node, _NumN) and node.int_val is not None:
                return node.int_val
            raise self.error(node, f"expected integer; found {node}")
        if typ == _STRING:
            if isinstance(node, _StrN):
                return node.text
            raise self.error(node, f"expected string; found {node}")
        if typ == _STRINGS:
            raise self.error(node, f"can't handle {node} for arg of type []string")
        if isinstance(node, _BoolN):
            return node.val
        if isinstance(node, _NumN):
            return self.ideal_constant(node)
        if isinstance(node, _StrN):
            return node.text
        raise self.error(node, f"can't handle {node} for arg of type {typ}")

    def validate(self, node: _Node, value: object, typ: str | None) -> object:
        """exec.go validateType: can ``value`` be passed as a parameter of ``typ``?"""
        if typ is None:
            return value
        if value is MISSING:
            if typ == _ANY:
                return None
            if typ == _VALUE:
                return MISSING
            if typ == _STRINGS:
                return []
            raise self.error(node, f"invalid value; expected {typ}")
        if typ in (_ANY, _VALUE):
            return value
        if value is None:
            raise self.error(node, f"wrong type for value; expected {typ}; got interface {{}}")
        if typ == _STRING and isinstance(value, str):
            return value
        if typ == _INT and isinstance(value, int) and not isinstance(value, bool):
            return value
        # Docker passes typed []string fields to join; our lists are untyped,
        # so a list holding only strings stands in for one.
        if (
            typ == _STRINGS
            and isinstance(value, (list, tuple))
            and all(isinstance(e, str) for e in value)
        ):
            return list(value)
        raise self.error(node, f"wrong type for value; expected {typ}; got {_type_name(value)}")


# --- public API ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: parse once, render for every item of a listing."""

    source: str
    _nodes: tuple[_Node, ...]

    def render(self, data: object) -> str:
        """Execute against JSON-like ``data``; raises TemplateError as Go's Execute errs."""
        state = _Exec(_Src(self.source), data)
        root = state.vars[0][1]
        state.walk(root, list(self._nodes))
        return "".join(state.out)


def parse_template(template: str) -> Template:
    """Parse ``template``; every syntax error is reported before any output is produced."""
    return Template(template, tuple(_Parser(_Src(template)).parse()))


def render(template: str, data: object) -> str:
    """Render a Go template against JSON-like data, as ``docker ... --format`` would."""
    return parse_template(template).render(data)
