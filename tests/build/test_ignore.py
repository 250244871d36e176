""".dockerignore matching must agree with Docker's, case for case.

The tables are transcribed from github.com/moby/patternmatcher
(patternmatcher_test.go: TestMatches, TestMatch, TestCompile and the small
tests around them; ignorefile/ignorefile_test.go: TestReadAll).  Each row is
its own test id.  TestMatches rows run against every matching entry point Go
runs them against (MatchesOrParentMatches, MatchesUsingParentResults with and
without parent context).  The "quirk" rows at the end were checked against
the real Go code: they pin behaviour users could otherwise not predict from
the docs (raw ``|`` and ``{}`` in patterns, RE2 escapes, end-of-text ``$``).
"""

from __future__ import annotations

import pytest

from anyarch.build.ignore import (
    BadPatternError,
    IgnoreMatcher,
    IgnorePatternError,
    MatchInfo,
    compile_pattern,
    contains_wildcards,
    go_clean,
    go_filepath_match,
    read_ignore_patterns,
)
from anyarch.errors import InvalidInputError


def package_matches(path: str, patterns: list[str]) -> bool:
    """Go's package-level MatchesOrParentMatches: clean the path, never exclude '.'."""
    matcher = IgnoreMatcher(patterns)
    path = go_clean(path)
    if path == ".":
        return False
    return matcher.matches(path)


def chain(matcher: IgnoreMatcher, text: str) -> bool:
    """MatchesUsingParentResults fed with the results of each parent dir, as the Go test does."""
    parent = text.rsplit("/", 1)[0] if "/" in text else "."
    info = MatchInfo()
    if parent != ".":
        dirs = go_clean(parent).split("/")
        for i in range(len(dirs)):
            _, info = matcher.matches_using_parent("/".join(dirs[: i + 1]), info)
    return matcher.matches_using_parent(text, info)[0]


# --- TestMatches ----------------------------------------------------------------

MATCHES = [
    ("**", "file", True),
    ("**", "file/", True),
    ("**/", "file", True),
    ("**/", "file/", True),
    ("**", "/", True),
    ("**/", "/", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**", "dir/file/", True),
    ("**/", "dir/file/", True),
    ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("a\\\\", "a\\", True),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        True,
    ),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True),  # the non-Windows extra row
]

MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (
        ["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        False,
    ),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
]

METHODS = {
    "MatchesOrParentMatches": lambda m, text: m.matches(text),
    "MatchesUsingParentResults": chain,
    "MatchesUsingParentResultsNoContext": lambda m, text: m.matches_using_parent(text)[0],
}


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize(
    ("patterns", "text", "expected"),
    [pytest.param([p], t, e, id=f"{p}|{t}") for p, t, e in MATCHES]
    + [pytest.param(p, t, e, id=f"{','.join(p)}|{t}") for p, t, e in MULTI],
)
def test_matches_table(method: str, patterns: list[str], text: str, expected: bool) -> None:
    matcher = IgnoreMatcher(patterns)
    assert METHODS[method](matcher, text) is expected


# --- TestMatch (Go's filepath.Match tests, through the matcher) -------------------

BAD = "bad"
MATCH_TESTS = [
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", True),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("[]a]", "]", BAD),
    ("[-]", "-", BAD),
    ("[x-]", "x", BAD),
    ("[x-]", "-", BAD),
    ("[x-]", "z", BAD),
    ("[-x]", "x", BAD),
    ("[-x]", "-", BAD),
    ("[-x]", "a", BAD),
    ("\\", "a", BAD),
    ("[a-b-c]", "a", BAD),
    ("[", "a", BAD),
    ("[^", "a", BAD),
    ("[^bc", "a", BAD),
    ("a[", "a", BAD),
    ("a[", "ab", BAD),
    ("*x", "xxx", True),
]


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [pytest.param(*row, id=f"{row[0]}|{row[1]}") for row in MATCH_TESTS],
)
def test_match_table(pattern: str, text: str, expected: bool | str) -> None:
    if expected == BAD:
        with pytest.raises(IgnorePatternError, match="syntax error in pattern"):
            package_matches(text, [pattern])
    else:
        assert package_matches(text, [pattern]) is expected


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [pytest.param(*row, id=f"{row[0]}|{row[1]}") for row in MATCH_TESTS],
)
def test_go_filepath_match_agrees(pattern: str, text: str, expected: bool | str) -> None:
    # The same rows hold for the filepath.Match port (used for COPY wildcards),
    # except that filepath.Match has no parent-directory rule.
    if expected == BAD:
        with pytest.raises(BadPatternError):
            go_filepath_match(pattern, text)
    elif (pattern, text) == ("a*", "ab/c"):
        assert go_filepath_match(pattern, text) is False  # '*' never crosses '/'
    else:
        assert go_filepath_match(pattern, text) is expected


# --- TestCompile ------------------------------------------------------------------

COMPILE = [
    ("*", "regexp", "^[^/]*$"),
    ("file*", "regexp", "^file[^/]*$"),
    ("*file", "regexp", "^[^/]*file$"),
    ("a*/b", "regexp", "^a[^/]*/b$"),
    ("**", "suffix", ""),
    ("**/**", "regexp", "^(.*/)?.*$"),
    ("dir/**", "prefix", ""),
    ("**/dir", "suffix", ""),
    ("**/dir2/*", "regexp", "^(.*/)?dir2/[^/]*$"),
    ("**/dir2/**", "regexp", "^(.*/)?dir2/.*$"),
    ("**file", "suffix", ""),
    ("**/file*txt", "regexp", "^(.*/)?file[^/]*txt$"),
    ("**/**/*.txt", "regexp", "^(.*/)?(.*/)?[^/]*\\.txt$"),
    ("a[b-d]e", "regexp", "^a[b-d]e$"),
    (".*", "regexp", "^\\.[^/]*$"),
    ("abc.def", "exact", ""),
    ("abc?def", "regexp", "^abc[^/]def$"),
    ("**/foo/bar", "suffix", ""),
    ("a(b)c/def", "exact", ""),
    ("a.|)$(}+{bc", "exact", ""),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "exact", ""),
]


@pytest.mark.parametrize(
    ("pattern", "kind", "regexp"), [pytest.param(*r, id=r[0]) for r in COMPILE]
)
def test_compile_table(pattern: str, kind: str, regexp: str) -> None:
    assert compile_pattern(go_clean(pattern)) == (kind, regexp)


# --- the small tests ----------------------------------------------------------------

SMALL = [
    ("wildcard", "fileutils.go", ["*"], True),
    ("pattern", "fileutils.go", ["*.go"], True),
    ("exclusion-before", "fileutils.go", ["!fileutils.go", "*.go"], True),
    ("folder-exclusions", "docs/README.md", ["docs", "!docs/README.md"], False),
    ("folder-with-slash-exclusions", "docs/README.md", ["docs/", "!docs/README.md"], False),
    ("folder-wildcard-exclusions", "docs/README.md", ["docs/*", "!docs/README.md"], False),
    ("exclusion-after", "fileutils.go", ["*.go", "!fileutils.go"], False),
    ("whole-directory", ".", ["*.go"], False),
    ("no-patterns", "/any/path/there", [], False),
]


@pytest.mark.parametrize(
    ("path", "patterns", "expected"), [pytest.param(*r[1:], id=r[0]) for r in SMALL]
)
def test_small_cases(path: str, patterns: list[str], expected: bool) -> None:
    assert package_matches(path, patterns) is expected


def test_single_exclamation_is_an_error_naming_the_file_and_line() -> None:
    with pytest.raises(IgnorePatternError) as info:
        IgnoreMatcher.from_file("node_modules\n!\n", source="ctx/.dockerignore")
    assert info.value.message == 'ctx/.dockerignore:2: illegal exclusion pattern: "!"'
    assert info.value.hint
    assert isinstance(info.value, InvalidInputError)


def test_malformed_pattern_rejected_at_construction() -> None:
    with pytest.raises(IgnorePatternError) as info:
        IgnoreMatcher(["["])
    assert "'['" in info.value.message and "syntax error" in info.value.message


def test_clean_patterns() -> None:
    assert IgnoreMatcher(["docs", "config"]).patterns == ("docs", "config")
    assert IgnoreMatcher(["docs", "config", ""]).patterns == ("docs", "config")
    assert IgnoreMatcher(["docs", "!docs/README.md"]).exclusions is True
    assert IgnoreMatcher(["docs", "  !docs/README.md"]).exclusions is True
    assert IgnoreMatcher(["docs", "!docs/README.md  "]).exclusions is True
    assert IgnoreMatcher(["docs"]).exclusions is False


def test_malformed_pattern_errors_on_every_use_not_once() -> None:
    # Regression test for moby/moby#52203: passes New's filepath.Match check,
    # fails only when RE2 compiles it ("l-O" is a reversed range).
    matcher = IgnoreMatcher(["[Local-Only]/"])
    for _ in range(2):
        with pytest.raises(IgnorePatternError, match="syntax error in pattern"):
            matcher.matches("x")


# --- ignorefile.ReadAll -------------------------------------------------------------


def test_read_all() -> None:
    content = (
        "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! "
    )
    assert [p for _, p in read_ignore_patterns(content)] == [
        "test1",
        "test2",
        "a/file/here",
        "lastfile",
        "!inverted/abs/path",
        "!",
        "!",
    ]
    assert read_ignore_patterns("") == []


READ_ALL_EXTRA = [
    ("bom", "\ufeff# comment\nfoo\n", ["foo"]),
    ("crlf", "a\r\nb\r\n", ["a", "b"]),
    ("indented-hash-is-a-pattern", "  # not a comment\n", ["# not a comment"]),
    ("dot-slash", "./foo/../bar/\n", ["bar"]),
    ("double-slash", "//foo\n", ["foo"]),
    ("root-alone", "/\n", ["/"]),
    ("go-space-not-python-space", "\x1cfoo\x1c\n", ["\x1cfoo\x1c"]),
    ("nbsp-is-space", "\xa0foo\u3000\n", ["foo"]),
]


@pytest.mark.parametrize(
    ("text", "expected"), [pytest.param(*r[1:], id=r[0]) for r in READ_ALL_EXTRA]
)
def test_read_all_details(text: str, expected: list[str]) -> None:
    assert [p for _, p in read_ignore_patterns(text)] == expected


def test_line_numbers_survive_comments_and_blank_lines() -> None:
    assert read_ignore_patterns("# c\n\nfoo\n  \nbar") == [(3, "foo"), (5, "bar")]


def test_from_file_reports_the_bad_line() -> None:
    with pytest.raises(IgnorePatternError) as info:
        IgnoreMatcher.from_file(b"ok\n# c\nbad[\n")
    assert info.value.message.startswith(".dockerignore:3: invalid pattern 'bad['")


def test_overlong_line_refused_like_bufio_scanner() -> None:
    with pytest.raises(IgnorePatternError, match="longer than 64 KiB"):
        read_ignore_patterns("a" * 65536 + "\n")
    assert read_ignore_patterns("a" * 65535) == [(1, "a" * 65535)]


# --- quirks, checked against the Go implementation ----------------------------------

QUIRKS = [
    # patternmatcher's escape bitmap misses '|', '{', '}' (bytes >= 64), so they
    # reach RE2 raw: '|' is alternation, '{n,m}' repetition.
    ("pipe-alternation-prefix", ["*.go|*.md"], "main.go.bak", True, True),
    ("pipe-alternation-suffix", ["*.go|*.md"], "x/README.md", True, True),
    ("pipe-alternation-miss", ["*.go|*.md"], "x/main.go", False, False),
    ("brace-repeat", ["a{2}*"], "aa", True, True),
    ("brace-repeat-not-literal", ["a{2}*"], "a{2}", False, False),
    ("brace-range", ["file{1,2}?"], "filee", True, True),
    # RE2 escapes: \d is an ASCII digit class, POSIX classes work.
    ("perl-digit", ["\\d*"], "5x", True, True),
    ("perl-digit-not-d", ["\\d*"], "dx", False, False),
    ("posix-class", ["[[:digit:]]*.log"], "7.log", True, True),
    # \Q quotes everything after it, including the generated [^/]* and $.
    ("quote-swallows-rest", ["\\Qa*"], "a[^/]*$xyz", True, True),
    ("quote-not-a-glob", ["\\Qa*"], "a*", False, False),
    # $ is end of text: a trailing newline does not count as the end.
    ("dollar-is-end-of-text", ["*.txt"], "a.txt\n", False, False),
    # The two Go entry points disagree here; Docker's walkers use the second.
    ("walk-differs-from-or-parent", ["a/c", "!a"], "a/c", False, True),
    # A bad pattern that is never evaluated never fails.
    ("skipped-bad-pattern", ["*", "[z-a]*"], "x", True, True),
]


@pytest.mark.parametrize(
    ("patterns", "path", "or_parent", "walk"), [pytest.param(*r[1:], id=r[0]) for r in QUIRKS]
)
def test_quirks(patterns: list[str], path: str, or_parent: bool, walk: bool) -> None:
    matcher = IgnoreMatcher(patterns)
    assert matcher.matches(path) is or_parent
    assert matcher.excluded(path) is walk


@pytest.mark.parametrize("pattern", ["\\é*", "[z-a]*", "a\\e"])
def test_patterns_only_re2_rejects_fail_when_used(pattern: str) -> None:
    matcher = IgnoreMatcher([pattern])  # filepath.Match accepts it
    with pytest.raises(IgnorePatternError, match="syntax error"):
        matcher.matches("x")


# --- the walker's skip rule (tonistiigi/fsutil filter.go) ----------------------------

SKIP = [
    # (patterns, dir, can skip?)
    ("no-exceptions", ["node_modules"], "node_modules", True),
    ("not-excluded", ["node_modules"], "src", False),
    ("exception-inside", ["docs", "!docs/README.md"], "docs", False),
    ("exception-elsewhere", ["docs", "!src/keep"], "docs", True),
    ("exception-prefix-only-with-trailing-glob", ["build", "!build/keep/**"], "build", False),
    ("exception-with-glob-never-skips", ["build", "!*/keep"], "build", False),
    ("exception-with-glob-elsewhere-still-no-skip", ["build", "!src/*.md"], "build", False),
    ("exception-above-dir", ["**", "!a", "a/b"], "a/b", True),
    ("nested-excluded-by-parent", ["vendor"], "vendor/x", True),
]


@pytest.mark.parametrize(
    ("patterns", "path", "expected"), [pytest.param(*r[1:], id=r[0]) for r in SKIP]
)
def test_can_skip_dir(patterns: list[str], path: str, expected: bool) -> None:
    assert IgnoreMatcher(patterns).can_skip_dir(path) is expected


def test_with_exceptions_keeps_build_files_like_trim_build_files_from_excludes() -> None:
    matcher = IgnoreMatcher.from_file("*\n")
    kept = matcher.with_exceptions([".dockerignore", "Dockerfile"])
    assert kept.patterns == ("*", "!.dockerignore", "!Dockerfile")
    assert not kept.matches("Dockerfile") and kept.matches("main.go")
    # Nothing is added for files that were not excluded.
    assert IgnoreMatcher(["*.go"]).with_exceptions(["Dockerfile"]).patterns == ("*.go",)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a*b", True), ("a?", True), ("[x]", True), ("a\\*b", False), ("plain/path", False)],
)
def test_contains_wildcards(name: str, expected: bool) -> None:
    assert contains_wildcards(name) is expected


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [("", "."), ("a//b/./c/..", "a/b"), ("/../a", "/a"), ("a/../..", ".."), ("//a/", "/a")],
)
def test_go_clean(path: str, cleaned: str) -> None:
    assert go_clean(path) == cleaned
