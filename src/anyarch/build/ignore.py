""".dockerignore matching, ported from github.com/moby/patternmatcher.

Users move between ``docker build`` and ``anyarch build`` with the same
``.dockerignore``; a file that Docker sends and anyarch drops (or the other way
round) changes an image silently.  So this is a line-by-line port of Docker's
own matcher rather than a reimplementation of "gitignore-like" rules:

* ``read_ignore_patterns`` is ``ignorefile.ReadAll`` (BOM, ``#`` comments,
  whitespace trimming, ``filepath.Clean``, leading ``/`` removal);
* ``IgnoreMatcher`` is ``patternmatcher.PatternMatcher``: each pattern becomes
  an exact, prefix, suffix or regular-expression match exactly as Go's
  ``Pattern.compile`` decides, ``!`` patterns are exceptions, and a pattern
  matching a parent directory excludes everything under it;
* ``matches`` is ``MatchesOrParentMatches``; ``matches_using_parent`` is
  ``MatchesUsingParentResults`` (what Docker's walkers actually call, and which
  differs from the former in corner cases, so both are kept);
* ``dir_skippable`` is the optimisation from tonistiigi/fsutil's walker that
  skips an excluded directory unless an exception pattern could re-include
  something inside it.  It is part of the behaviour, not just speed: when it
  skips, nothing below is sent, even where the pure matcher would say
  otherwise.

The regular expressions Go builds are RE2 syntax; ``_translate_go_regex``
rewrites them into Python ``re`` syntax with RE2's meaning (ASCII ``\\d``/``\\s``
/``\\w``, POSIX classes, octal and hex escapes, ``\\Q..\\E``, end-of-text
``$``) and rejects what RE2 rejects, so a pattern that breaks ``docker build``
breaks here too.  Go's ``filepath.Match`` and ``filepath.Clean`` are ported
as well: Docker uses the former to validate patterns (and BuildKit to expand
COPY wildcards), the latter to normalise them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from anyarch.errors import InvalidInputError

__all__ = [
    "BadPatternError",
    "IgnoreMatcher",
    "IgnorePatternError",
    "MatchInfo",
    "contains_wildcards",
    "go_clean",
    "go_dir",
    "go_filepath_match",
    "go_join",
    "read_ignore_patterns",
]

DOCS_HINT = "see https://docs.docker.com/build/concepts/context/#dockerignore-files"


class IgnorePatternError(InvalidInputError):
    """A .dockerignore (or ``--exclude``) pattern Docker would reject too."""


class BadPatternError(ValueError):
    """Go's ``filepath.ErrBadPattern``: a glob that does not parse.

    Internal: callers turn it into an :class:`IgnorePatternError` (or a COPY
    error) that names the file and the pattern.
    """

    def __init__(self, detail: str = "syntax error in pattern") -> None:
        super().__init__(detail)


# --- Go path helpers ----------------------------------------------------------

# unicode.IsSpace: the set strings.TrimSpace removes.  Python's str.strip()
# also strips U+001C..U+001F, which Go keeps, so the set is spelled out.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _trim_space(s: str) -> str:
    return s.strip(_GO_SPACE)


def go_clean(path: str) -> str:
    """Go ``filepath.Clean`` on a slash path (lexical, ``..`` stops at ``/``).

    Differs from ``posixpath.normpath`` in two ways that matter for patterns:
    a leading ``//`` collapses to ``/``, and nothing touches the filesystem.
    """
    if path == "":
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    joined = "/".join(out)
    if rooted:
        return "/" + joined
    return joined or "."


def go_join(*elems: str) -> str:
    """Go ``path.Join``: join the non-empty elements and clean; ``""`` if none."""
    parts = [e for e in elems if e != ""]
    if not parts:
        return ""
    return go_clean("/".join(parts))


def go_dir(path: str) -> str:
    """Go ``filepath.Dir``: everything up to the last ``/``, cleaned."""
    i = path.rfind("/")
    return go_clean(path[: i + 1])


def contains_wildcards(name: str) -> bool:
    """BuildKit's ``containsWildcards``: an unescaped ``*``, ``?`` or ``[``."""
    i = 0
    while i < len(name):
        ch = name[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "*?[":
            return True
        i += 1
    return False


# --- Go filepath.Match (byte-level port) --------------------------------------


def _enc(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _decode_rune(b: bytes, i: int) -> tuple[int, int]:
    """utf8.DecodeRune: (rune, width); invalid input is (U+FFFD, 1)."""
    if i >= len(b):
        return 0xFFFD, 0
    c = b[i]
    if c < 0x80:
        return c, 1
    for width in (2, 3, 4):
        chunk = b[i : i + width]
        if len(chunk) < width:
            break
        try:
            s = chunk.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if len(s) == 1:
            return ord(s), width
    return 0xFFFD, 1


def _scan_chunk(pattern: bytes) -> tuple[bool, bytes, bytes]:
    star = False
    while pattern[:1] == b"*":
        pattern = pattern[1:]
        star = True
    inrange = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == 0x5C:  # backslash: error check happens in _match_chunk
            if i + 1 < len(pattern):
                i += 1
        elif c == 0x5B:  # [
            inrange = True
        elif c == 0x5D:  # ]
            inrange = False
        elif c == 0x2A and not inrange:  # *
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _get_esc(chunk: bytes) -> tuple[int, bytes]:
    if not chunk or chunk[0] in (0x2D, 0x5D):  # - ]
        raise BadPatternError
    if chunk[0] == 0x5C:
        chunk = chunk[1:]
        if not chunk:
            raise BadPatternError
    r, n = _decode_rune(chunk, 0)
    if r == 0xFFFD and n == 1:
        raise BadPatternError
    rest = chunk[n:]
    if not rest:
        raise BadPatternError
    return r, rest


def _match_chunk(chunk: bytes, s: bytes) -> tuple[bytes, bool]:
    """Go's matchChunk: (rest of s, ok); raises BadPatternError."""
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        c = chunk[0]
        if c == 0x5B:  # [
            r = 0
            if not failed:
                r, n = _decode_rune(s, 0)
                s = s[n:]
            chunk = chunk[1:]
            negated = False
            if chunk[:1] == b"^":
                negated = True
                chunk = chunk[1:]
            matched = False
            nrange = 0
            while True:
                if chunk[:1] == b"]" and nrange > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == 0x2D:  # -
                    hi, chunk = _get_esc(chunk[1:])
                if lo <= r <= hi:
                    matched = True
                nrange += 1
            if matched == negated:
                failed = True
        elif c == 0x3F:  # ?
            if not failed:
                if s[0] == 0x2F:
                    failed = True
                _, n = _decode_rune(s, 0)
                s = s[n:]
            chunk = chunk[1:]
        else:
            if c == 0x5C:
                chunk = chunk[1:]
                if not chunk:
                    raise BadPatternError
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    if failed:
        return b"", False
    return s, True


def go_filepath_match(pattern: str, name: str) -> bool:
    """Go ``filepath.Match`` on Linux; raises :class:`BadPatternError`.

    ``*`` and ``?`` never match ``/``; ``**`` is just ``*``; a ``[...]`` class
    can match ``/``; ``\\`` escapes.  Like Go, a malformed pattern is reported
    even when the name fails to match earlier.
    """
    pat = _enc(pattern)
    nm = _enc(name)
    while pat:
        star, chunk, pat = _scan_chunk(pat)
        if star and not chunk:
            return b"/" not in nm
        t, ok = _match_chunk(chunk, nm)
        if ok and (not t or pat):
            nm = t
            continue
        if star:
            i = 0
            found = False
            while i < len(nm) and nm[i] != 0x2F:
                t, ok = _match_chunk(chunk, nm[i + 1 :])
                if ok:
                    if not pat and t:
                        i += 1
                        continue
                    nm = t
                    found = True
                    break
                i += 1
            if found:
                continue
        while pat:
            _, chunk, pat = _scan_chunk(pat)
            _match_chunk(chunk, b"")
        return False
    return not nm


# --- RE2 syntax -> Python re --------------------------------------------------


class _GoRegexError(Exception):
    """regexp.Compile would fail; patternmatcher reports ErrBadPattern."""


_MAX_RUNE = 0x10FFFF
_Ranges = list[tuple[int, int]]

_PERL_GROUPS: dict[str, tuple[bool, _Ranges]] = {
    "d": (False, [(0x30, 0x39)]),
    "s": (False, [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)]),
    "w": (False, [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]),
}

_POSIX_GROUPS: dict[str, _Ranges] = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)],
    "blank": [(0x09, 0x09), (0x20, 0x20)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": [(0x30, 0x39)],
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "word": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}

# Go's unicode.Categories (note: no "Cn"; "C" is Cc+Cf+Co+Cs).
_GO_CATEGORIES = frozenset(
    [
        "C",
        "Cc",
        "Cf",
        "Co",
        "Cs",
        "L",
        "Ll",
        "Lm",
        "Lo",
        "Lt",
        "Lu",
        "M",
        "Mc",
        "Me",
        "Mn",
        "N",
        "Nd",
        "Nl",
        "No",
        "P",
        "Pc",
        "Pd",
        "Pe",
        "Pf",
        "Pi",
        "Po",
        "Ps",
        "S",
        "Sc",
        "Sk",
        "Sm",
        "So",
        "Z",
        "Zl",
        "Zp",
        "Zs",
    ]
)


def _normalise(ranges: _Ranges) -> _Ranges:
    out: _Ranges = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _negate(ranges: _Ranges) -> _Ranges:
    out: _Ranges = []
    nxt = 0
    for lo, hi in _normalise(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAX_RUNE:
        out.append((nxt, _MAX_RUNE))
    return out


@functools.cache
def _category_ranges(name: str) -> tuple[tuple[int, int], ...]:
    """Code point ranges of a Unicode general category (``L`` or ``Lu``)."""
    if name == "Any":
        return ((0, _MAX_RUNE),)
    out: _Ranges = []
    for cp in range(_MAX_RUNE + 1):
        cat = unicodedata.category(chr(cp))
        if cat == name or (len(name) == 1 and cat[0] == name and cat in _GO_CATEGORIES):
            if out and out[-1][1] == cp - 1:
                out[-1] = (out[-1][0], cp)
            else:
                out.append((cp, cp))
    return tuple(out)


def _known_category(name: str) -> bool:
    return name == "Any" or name in _GO_CATEGORIES


def _unhex(c: str) -> int:
    return int(c, 16) if c and c in "0123456789abcdefABCDEF" else -1


def _parse_escape(s: str, i: int) -> tuple[int, int]:
    """RE2 parseEscape at ``s[i] == '\\\\'``: (rune, next index)."""
    if i + 1 >= len(s):
        raise _GoRegexError("trailing backslash")
    c = s[i + 1]
    j = i + 2
    if ord(c) < 0x80 and not c.isalnum():
        return ord(c), j
    if c in "1234567" and not (j < len(s) and "0" <= s[j] <= "7"):
        raise _GoRegexError("invalid escape")  # a backreference
    if c in "01234567":
        r = ord(c) - 0x30
        for _ in range(2):
            if j < len(s) and "0" <= s[j] <= "7":
                r = r * 8 + ord(s[j]) - 0x30
                j += 1
            else:
                break
        return r, j
    if c == "x":
        if j >= len(s):
            raise _GoRegexError("invalid escape")
        c2 = s[j]
        j += 1
        if c2 == "{":
            nhex = 0
            r = 0
            while True:
                if j >= len(s):
                    raise _GoRegexError("invalid escape")
                c3 = s[j]
                j += 1
                if c3 == "}":
                    break
                v = _unhex(c3)
                if v < 0:
                    raise _GoRegexError("invalid escape")
                r = r * 16 + v
                if r > _MAX_RUNE:
                    raise _GoRegexError("invalid escape")
                nhex += 1
            if nhex == 0:
                raise _GoRegexError("invalid escape")
            return r, j
        x = _unhex(c2)
        y = _unhex(s[j]) if j < len(s) else -1
        if x < 0 or y < 0:
            raise _GoRegexError("invalid escape")
        return x * 16 + y, j + 1
    simple = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
    if c in simple:
        return simple[c], j
    raise _GoRegexError("invalid escape")


def _parse_unicode_class(s: str, i: int) -> tuple[_Ranges, int] | None:
    """RE2 ``\\pN``/``\\p{Name}``/``\\P..`` at ``s[i]``, or None if not one."""
    if not (s.startswith("\\p", i) or s.startswith("\\P", i)):
        return None
    negate = s[i + 1] == "P"
    j = i + 2
    if j >= len(s):
        raise _GoRegexError("invalid character class range")
    if s[j] != "{":
        name = s[j]
        j += 1
    else:
        end = s.find("}", i)
        if end < 0:
            raise _GoRegexError("invalid character class range")
        name = s[j + 1 : end]
        j = end + 1
    if name.startswith("^"):
        negate = not negate
        name = name[1:]
    if not _known_category(name):
        # Go also knows script names (\p{Greek}); anyarch does not carry
        # those tables, so it refuses rather than guess.
        raise _GoRegexError(f"unsupported Unicode class \\p{{{name}}}")
    ranges = list(_category_ranges(name))
    return (_negate(ranges) if negate else ranges), j


def _parse_perl_class(s: str, i: int) -> tuple[_Ranges, int] | None:
    if i + 1 < len(s) and s[i] == "\\" and s[i + 1] in "dDsSwW":
        _, ranges = _PERL_GROUPS[s[i + 1].lower()]
        return (_negate(ranges) if s[i + 1].isupper() else list(ranges)), i + 2
    return None


def _parse_class(s: str, i: int) -> tuple[_Ranges, int]:
    """RE2 parseClass at ``s[i] == '['`` with Perl flags; (ranges, next index)."""
    j = i + 1
    negate = False
    if j < len(s) and s[j] == "^":
        negate = True
        j += 1
    ranges: _Ranges = []
    first = True
    while j >= len(s) or s[j] != "]" or first:
        if j >= len(s):
            raise _GoRegexError("missing closing ]")
        first = False
        if s.startswith("[:", j) and len(s) - j > 2:
            k = s.find(":]", j + 2)
            if k >= 0:
                name = s[j + 2 : k]
                neg = name.startswith("^")
                group = _POSIX_GROUPS.get(name[1:] if neg else name)
                if group is None:
                    raise _GoRegexError("invalid character class range")
                ranges += _negate(group) if neg else group
                j = k + 2
                continue
        uni = _parse_unicode_class(s, j)
        if uni is not None:
            ranges += uni[0]
            j = uni[1]
            continue
        perl = _parse_perl_class(s, j)
        if perl is not None:
            ranges += perl[0]
            j = perl[1]
            continue
        lo, j = _parse_class_char(s, j)
        hi = lo
        if j + 1 < len(s) and s[j] == "-" and s[j + 1] != "]":
            hi, j = _parse_class_char(s, j + 1)
            if hi < lo:
                raise _GoRegexError("invalid character class range")
        ranges.append((lo, hi))
    ranges = _normalise(ranges)
    return (_negate(ranges) if negate else ranges), j + 1


def _parse_class_char(s: str, j: int) -> tuple[int, int]:
    if j >= len(s):
        raise _GoRegexError("missing closing ]")
    if s[j] == "\\":
        return _parse_escape(s, j)
    return ord(s[j]), j + 1


def _py_class(ranges: _Ranges) -> str:
    ranges = _normalise(ranges)
    if not ranges:
        return "(?!)"
    body = "".join(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges)
    return f"[{body}]"


def _py_literal(r: int) -> str:
    return f"\\U{r:08x}"


def _parse_int(s: str, j: int) -> tuple[int, int] | None:
    """RE2 parseInt: (value or -1 if huge, next index); no leading zeros."""
    if j >= len(s) or not "0" <= s[j] <= "9":
        return None
    if j + 1 < len(s) and s[j] == "0" and "0" <= s[j + 1] <= "9":
        return None
    k = j
    while k < len(s) and "0" <= s[k] <= "9":
        k += 1
    digits = s[j:k]
    value = int(digits) if len(digits) <= 8 else -1
    return value, k


def _parse_repeat(s: str, i: int) -> tuple[int, int, int] | None:
    """RE2 parseRepeat at ``s[i] == '{'``: (min, max or -1, next index) or None."""
    first = _parse_int(s, i + 1)
    if first is None:
        return None
    lo, j = first
    if j >= len(s):
        return None
    if s[j] != ",":
        hi = lo
    else:
        j += 1
        if j >= len(s):
            return None
        if s[j] == "}":
            hi = -1
        else:
            second = _parse_int(s, j)
            if second is None:
                return None
            hi, j = second
            if hi < 0:
                lo = -1
    if j >= len(s) or s[j] != "}":
        return None
    return lo, hi, j + 1


def _translate_go_regex(src: str) -> str:
    """Rewrite an RE2 expression (as patternmatcher builds it) for Python ``re``.

    Covers what patternmatcher can emit, which is more than it intends: its
    escape table only works for bytes below 64, so ``|``, ``{`` and ``}`` from
    a pattern reach the regexp raw and mean alternation and repetition.
    Raises _GoRegexError wherever ``regexp.Compile`` fails.
    """
    atoms: list[str] = []  # Python source, one entry per atom or operator
    # Index in ``atoms`` of the last repeatable atom, or None after "(", "|" or
    # at the start (Go's "missing argument to repetition operator").
    last: int | None = None
    groups: list[int] = []  # atoms index of each open "(?:"
    last_was_repeat = False
    i = 0
    n = len(src)

    def quantify(op: str) -> None:
        nonlocal last, last_was_repeat
        if last_was_repeat:
            raise _GoRegexError("invalid nested repetition operator")
        if last is None:
            raise _GoRegexError("missing argument to repetition operator")
        body = "".join(atoms[last:])
        del atoms[last:]
        atoms.append(f"(?:{body}){op}")
        last_was_repeat = True

    while i < n:
        c = src[i]
        if c in "*+?":
            i += 1
            if i < n and src[i] == "?":  # non-greedy: same language
                i += 1
            quantify(c)
            continue
        if c == "{":
            rep = _parse_repeat(src, i)
            if rep is not None:
                lo, hi, after = rep
                if lo < 0 or lo > 1000 or hi > 1000 or (hi >= 0 and lo > hi):
                    raise _GoRegexError("invalid repeat count")
                i = after
                if i < n and src[i] == "?":
                    i += 1
                quantify(f"{{{lo},}}" if hi < 0 else f"{{{lo},{hi}}}")
                continue
            # Not a repeat: a literal brace, as in RE2.
        last_was_repeat = False
        if c == "(":
            if src.startswith("(?", i):
                raise _GoRegexError("unsupported group flags")
            groups.append(len(atoms))
            atoms.append("(?:")
            last = None
            i += 1
            continue
        if c == ")":
            if not groups:
                raise _GoRegexError("unexpected )")
            start = groups.pop()
            body = "".join(atoms[start:])
            del atoms[start:]
            atoms.append(body + ")")
            last = len(atoms) - 1
            i += 1
            continue
        if c == "|":
            atoms.append("|")
            last = None
            i += 1
            continue
        prev_last, last = last, len(atoms)
        if c == "^":
            atoms.append(r"\A")
            i += 1
        elif c == "$":
            atoms.append(r"\Z")
            i += 1
        elif c == ".":
            atoms.append(".")
            i += 1
        elif c == "[":
            ranges, i = _parse_class(src, i)
            atoms.append(_py_class(ranges))
        elif c == "\\":
            nxt = src[i + 1] if i + 1 < n else ""
            if nxt in ("A", "z"):
                atoms.append(r"\A" if nxt == "A" else r"\Z")
                i += 2
            elif nxt in ("b", "B"):
                atoms.append("\\" + nxt)
                i += 2
            elif nxt == "C":
                raise _GoRegexError("invalid escape sequence \\C")
            elif nxt == "Q":
                end = src.find("\\E", i + 2)
                lit = src[i + 2 :] if end < 0 else src[i + 2 : end]
                i = n if end < 0 else end + 2
                if not lit:  # "\\Q\\E" adds nothing; a "*" after it repeats what came before
                    last = prev_last
                    continue
                # Each literal rune is its own atom: a following "*" repeats
                # only the last one, as in RE2.
                atoms.extend(_py_literal(ord(ch)) for ch in lit)
                last = len(atoms) - 1
            else:
                uni = _parse_unicode_class(src, i)
                perl = None if uni is not None else _parse_perl_class(src, i)
                if uni is not None:
                    atoms.append(_py_class(uni[0]))
                    i = uni[1]
                elif perl is not None:
                    atoms.append(_py_class(perl[0]))
                    i = perl[1]
                else:
                    r, i = _parse_escape(src, i)
                    atoms.append(_py_literal(r))
        else:
            atoms.append(_py_literal(ord(c)))
            i += 1
    if groups:
        raise _GoRegexError("missing )")
    return "".join(atoms)


_SURROGATES = re.compile("[\udc80-\udcff]")


def _regex_subject(path: str) -> str:
    """Go's regexp sees each invalid UTF-8 byte as U+FFFD; mirror that."""
    return _SURROGATES.sub("\ufffd", path)


# --- patternmatcher -----------------------------------------------------------

_UNKNOWN, _EXACT, _PREFIX, _SUFFIX, _REGEXP = range(5)
MATCH_TYPE_NAMES = ("unknown", "exact", "prefix", "suffix", "regexp")

# Characters patternmatcher escapes when building its regexp.  Its shouldEscape
# is meant to cover ".+()|{}$", but the bitmap shifts a byte by b/8, which is
# zero for every byte of 64 or more: '|', '{' and '}' are never escaped.
_SHOULD_ESCAPE = frozenset(".+()$")


def compile_pattern(pattern: str) -> tuple[str, str]:
    """Go's ``Pattern.compile`` for ``/``: (match type name, regexp source).

    Exposed so tests can compare with patternmatcher's compile tables; the
    regexp source is ``""`` unless the type is ``regexp``.
    """
    kind, regstr = _compile(pattern)
    return MATCH_TYPE_NAMES[kind], regstr if kind == _REGEXP else ""


def _compile(pattern: str) -> tuple[int, str]:
    chars = [("\ufffd" if "\udc80" <= ch <= "\udcff" else ch) for ch in pattern]
    if chars and chars[0] == "\ufeff":  # text/scanner drops a leading BOM
        chars = chars[1:]
    reg = ["^"]
    detected = _EXACT
    pos = 0
    i = 0
    n = len(chars)
    while pos < n:
        ch = chars[pos]
        pos += 1
        if ch == "*":
            if pos < n and chars[pos] == "*":
                pos += 1
                if pos < n and chars[pos] == "/":
                    pos += 1
                if pos >= n:
                    if detected == _EXACT:
                        detected = _PREFIX
                    else:
                        reg.append(".*")
                        detected = _REGEXP
                else:
                    reg.append("(.*/)?")
                    detected = _REGEXP
                if i == 0:
                    detected = _SUFFIX
            else:
                reg.append("[^/]*")
                detected = _REGEXP
        elif ch == "?":
            reg.append("[^/]")
            detected = _REGEXP
        elif ch in _SHOULD_ESCAPE:
            reg.append("\\" + ch)
        elif ch == "\\":
            if pos < n:
                reg.append("\\" + chars[pos])
                pos += 1
                detected = _REGEXP
            else:
                reg.append("\\")
        elif ch in "[]":
            reg.append(ch)
            detected = _REGEXP
        else:
            reg.append(ch)
        i += 1
    if detected == _REGEXP:
        reg.append("$")
    return detected, "".join(reg)


class _Pattern:
    """One compiled pattern; compiled lazily, like Go, so errors surface when used."""

    __slots__ = ("cleaned", "dirs", "exclusion", "line", "match_type", "regex", "source")

    def __init__(self, cleaned: str, exclusion: bool, source: str, line: int | None) -> None:
        self.cleaned = cleaned
        self.exclusion = exclusion
        self.dirs = cleaned.split("/")
        self.match_type = _UNKNOWN
        self.regex: re.Pattern[str] | None = None
        self.source = source
        self.line = line

    def __str__(self) -> str:
        return ("!" if self.exclusion else "") + self.cleaned

    def _error(self, detail: str) -> IgnorePatternError:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return IgnorePatternError(
            f"{where}: invalid pattern {self.cleaned!r}: {detail}",
            hint=f"escape [ ] * ? \\ with a backslash to match them literally; {DOCS_HINT}",
        )

    def match(self, path: str) -> bool:
        if self.match_type == _UNKNOWN:
            kind, regstr = _compile(self.cleaned)
            if kind == _REGEXP:
                if "\\Q" not in regstr:
                    # (.*/)?(.*/)? means what (.*/)? means; collapsing keeps
                    # Python's backtracking matcher linear-ish on '**/**'.
                    while "(.*/)?(.*/)?" in regstr:
                        regstr = regstr.replace("(.*/)?(.*/)?", "(.*/)?")
                try:
                    self.regex = re.compile(_translate_go_regex(regstr), re.ASCII)
                except _GoRegexError as exc:
                    raise self._error(f"syntax error in pattern ({exc})") from None
            self.match_type = kind
        kind = self.match_type
        if kind == _EXACT:
            return path == self.cleaned
        if kind == _PREFIX:
            return path.startswith(self.cleaned[:-2])
        if kind == _SUFFIX:
            suffix = self.cleaned[2:]
            if path.endswith(suffix):
                return True
            return suffix[:1] == "/" and path == suffix[1:]
        assert self.regex is not None
        return self.regex.search(_regex_subject(path)) is not None

    def match_quiet(self, path: str) -> bool:
        """Go's ``match, _ = pattern.match(...)``: an error counts as no match."""
        try:
            return self.match(path)
        except IgnorePatternError:
            return False


@dataclass(frozen=True, slots=True)
class MatchInfo:
    """Per-pattern results for a directory, handed to its children (Go's MatchInfo).

    The empty value means "no information": the child is then checked against
    its parent directories itself, like ``MatchesOrParentMatches``.
    """

    parent_matched: tuple[bool, ...] = ()


_PATTERN_CHARS = "*[]?^\\"


def read_ignore_patterns(
    text: str | bytes, *, source: str = ".dockerignore"
) -> list[tuple[int, str]]:
    """``ignorefile.ReadAll``: (1-based line number, pattern) for each pattern line.

    A UTF-8 BOM on the first line is dropped; lines *starting* with ``#`` are
    comments (an indented ``#`` is a pattern, as in Docker); whitespace is
    trimmed; ``!`` is kept as a prefix; the rest is ``filepath.Clean``-ed and
    loses one leading ``/`` so ``/foo`` means ``foo``.  A line of 64 KiB or
    more is refused, as Go's line scanner refuses it.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out: list[tuple[int, str]] = []
    for number, raw in enumerate(lines, start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if len(_enc(line)) >= 64 * 1024:
            raise IgnorePatternError(
                f"{source}:{number}: line is longer than 64 KiB",
                hint="Docker's reader rejects such lines too; split the pattern",
            )
        if number == 1 and line.startswith("\ufeff"):
            line = line[1:]
        if line.startswith("#"):
            continue
        pattern = _trim_space(line)
        if not pattern:
            continue
        invert = pattern[0] == "!"
        if invert:
            pattern = _trim_space(pattern[1:])
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern[0] == "/":
                pattern = pattern[1:]
        if invert:
            pattern = "!" + pattern
        out.append((number, pattern))
    return out


class IgnoreMatcher:
    """Docker's ``PatternMatcher`` over slash-separated paths relative to the root.

    Construct from raw patterns (``COPY --exclude`` values, which Docker does
    not pre-clean) or with :meth:`from_file` from ``.dockerignore`` text.
    Invalid patterns raise :class:`IgnorePatternError` naming the file, line
    and pattern; a pattern that only RE2 rejects raises when first used, as in
    Docker.
    """

    def __init__(
        self,
        patterns: Iterable[str],
        *,
        source: str = ".dockerignore",
        lines: Sequence[int | None] | None = None,
    ) -> None:
        self.source = source
        self._patterns: list[_Pattern] = []
        self._exclusions = False
        for index, raw in enumerate(patterns):
            line = lines[index] if lines is not None else None
            where = f"{source}:{line}" if line is not None else source
            p = _trim_space(raw)
            if not p:
                continue
            p = go_clean(p)
            exclusion = False
            if p[0] == "!":
                if len(p) == 1:
                    raise IgnorePatternError(
                        f'{where}: illegal exclusion pattern: "!"',
                        hint="write the path to re-include after the '!', e.g. !docs/README.md",
                    )
                exclusion = True
                p = p[1:]
                self._exclusions = True
            try:
                go_filepath_match(p, ".")
            except BadPatternError:
                raise IgnorePatternError(
                    f"{where}: invalid pattern {p!r}: syntax error in pattern",
                    hint=f"check [ ] pairs and trailing backslashes; {DOCS_HINT}",
                ) from None
            self._patterns.append(_Pattern(p, exclusion, source, line))
        self._only_prefix_exceptions = not any(
            pat.exclusion and any(ch in _PATTERN_CHARS for ch in _without_trailing_glob(pat))
            for pat in self._patterns
        )

    @classmethod
    def from_file(cls, text: str | bytes, *, source: str = ".dockerignore") -> IgnoreMatcher:
        """Parse ``.dockerignore`` content the way ``docker build`` does."""
        entries = read_ignore_patterns(text, source=source)
        return cls([p for _, p in entries], source=source, lines=[n for n, _ in entries])

    @property
    def patterns(self) -> tuple[str, ...]:
        """The cleaned patterns, ``!`` kept on exceptions (Go's ``Patterns()``)."""
        return tuple(str(p) for p in self._patterns)

    @property
    def exclusions(self) -> bool:
        """Whether any ``!`` exception exists (Go's ``Exclusions()``)."""
        return self._exclusions

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def __repr__(self) -> str:
        return f"IgnoreMatcher({list(self.patterns)!r}, source={self.source!r})"

    def matches(self, relpath: str) -> bool:
        """``MatchesOrParentMatches``: is ``relpath`` (or a parent dir) excluded?

        The last pattern that matches the path or any of its parent
        directories decides; ``!`` patterns re-include.
        """
        matched = False
        parent = go_dir(relpath)
        parent_dirs = parent.split("/")
        for pat in self._patterns:
            if pat.exclusion != matched:
                continue
            hit = pat.match(relpath)
            if not hit and parent != ".":
                for i in range(len(parent_dirs)):
                    if pat.match_quiet("/".join(parent_dirs[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pat.exclusion
        return matched

    def matches_using_parent(
        self, relpath: str, parent: MatchInfo = MatchInfo()
    ) -> tuple[bool, MatchInfo]:
        """``MatchesUsingParentResults``: what Docker's tree walkers ask.

        ``parent`` is the info returned for the parent directory (empty for a
        top-level entry, or when unknown).  Differs from :meth:`matches` when a
        pattern was skipped while evaluating the parent: it is then tried
        against this path alone.
        """
        parent_matched = parent.parent_matched
        if parent_matched and len(parent_matched) != len(self._patterns):
            raise ValueError("MatchInfo comes from a different matcher")
        matched = False
        result: list[bool] = []
        for i, pat in enumerate(self._patterns):
            hit = parent_matched[i] if parent_matched else False
            if not hit:
                if pat.exclusion != matched:
                    result.append(False)
                    continue
                hit = pat.match(relpath)
                if not hit and not parent_matched:
                    parent_path = go_dir(relpath)
                    if parent_path != ".":
                        dirs = parent_path.split("/")
                        for j in range(len(dirs)):
                            if pat.match_quiet("/".join(dirs[: j + 1])):
                                hit = True
                                break
            result.append(hit)
            if hit:
                matched = not pat.exclusion
        return matched, MatchInfo(tuple(result))

    def excluded(self, relpath: str) -> bool:
        """Whether Docker's walker leaves ``relpath`` out, judged entry by entry.

        Evaluates :meth:`matches_using_parent` down the path from the root,
        which is what a walk computes on its way to ``relpath``.  (Whether the
        walk reaches it at all is :meth:`can_skip_dir` of its ancestors.)
        """
        info = MatchInfo()
        hit = False
        parts = relpath.split("/")
        for k in range(len(parts)):
            hit, info = self.matches_using_parent("/".join(parts[: k + 1]), info)
        return hit

    def dir_skippable(self, relpath: str) -> bool:
        """fsutil's rule for an *excluded* directory: may the walk skip its contents?

        Yes when there are no ``!`` exceptions, or when every exception is a
        plain prefix (no glob characters once a trailing ``/*`` or ``/**`` is
        dropped) and none lies inside this directory.  With a glob exception
        anywhere, excluded directories are always entered.
        """
        if not self._only_prefix_exceptions:
            return False
        if not self._exclusions:
            return True
        dir_slash = relpath + "/"
        return not any(
            pat.exclusion and (_without_trailing_glob(pat) + "/").startswith(dir_slash)
            for pat in self._patterns
        )

    def can_skip_dir(self, relpath: str) -> bool:
        """Whether a walker may skip directory ``relpath`` and everything in it.

        True only if the directory is excluded and no exception pattern could
        re-include something inside it (fsutil's optimisation, which Docker's
        context transfer applies).
        """
        return self.excluded(relpath) and self.dir_skippable(relpath)

    def with_exceptions(self, paths: Iterable[str]) -> IgnoreMatcher:
        """Docker's ``TrimBuildFilesFromExcludes``: re-include ``paths`` if excluded.

        Used so the Dockerfile and ``.dockerignore`` are always part of the
        context that is sent, even when ``.dockerignore`` names them.
        """
        patterns = list(self.patterns)
        lines: list[int | None] = [p.line for p in self._patterns]
        for path in paths:
            if self.matches(path):
                patterns.append("!" + path)
                lines.append(None)
        return IgnoreMatcher(patterns, source=self.source, lines=lines)


def _without_trailing_glob(pat: _Pattern) -> str:
    s = pat.cleaned
    if s.endswith("/**"):
        s = s[:-3]
    if s.endswith("/*"):
        s = s[:-2]
    return s
