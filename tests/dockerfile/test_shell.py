"""anyarch's own tests for the Dockerfile word expander.

The upstream tables (test_shell_conformance.py) check results; these check
what the tables do not: error messages and hints a user reads, the lexer
switches the parser uses (raw quotes/escapes, skip-unset, backtick escape,
Windows key folding), the environment forms callers pass, and the places
where BuildKit's behaviour is surprising but observable.  Expected values
for BuildKit behaviour were confirmed against BuildKit's own lexer.
"""

from __future__ import annotations

import pytest

from anyarch.dockerfile.shell import (
    Env,
    ExpansionResult,
    ShellExpansionError,
    ShellLex,
    normalize_env_key,
)
from anyarch.errors import DockerfileError, InvalidInputError, SourceLocation


def expand(word: str, env: dict[str, str] | None = None, **switches: bool) -> str:
    lex = ShellLex()
    for name, value in switches.items():
        setattr(lex, name, value)
    return lex.process_word(word, env or {})


def error_of(word: str, env: dict[str, str] | None = None) -> ShellExpansionError:
    with pytest.raises(ShellExpansionError) as caught:
        ShellLex().process_word(word, env or {})
    return caught.value


# -- errors ----------------------------------------------------------------------


class TestMandatoryVariables:
    def test_unset_with_message_names_variable_and_message(self) -> None:
        err = error_of("${VAR:?must be set to the release tag}")
        assert "VAR: must be set to the release tag" in err.message
        assert err.variable == "VAR"
        assert err.detail == "VAR: must be set to the release tag"
        assert err.hint is not None and "VAR" in err.hint and "--build-arg" in err.hint

    def test_message_is_itself_expanded(self) -> None:
        err = error_of("${VAR:?need $WHAT}", {"WHAT": "a version"})
        assert err.detail == "VAR: need a version"

    def test_unset_without_message_says_unset(self) -> None:
        assert error_of("${VAR:?}").detail == "VAR: is not allowed to be unset"
        assert error_of("${VAR?}").detail == "VAR: is not allowed to be unset"

    def test_empty_is_refused_only_with_colon(self) -> None:
        assert error_of("${VAR:?}", {"VAR": ""}).detail == "VAR: is not allowed to be empty"
        assert expand("[${VAR?}]", {"VAR": ""}) == "[]"
        assert expand("${VAR:?}", {"VAR": "ok"}) == "ok"

    def test_error_is_a_dockerfile_error_the_parser_can_locate(self) -> None:
        err = error_of("${VAR:?x}")
        assert isinstance(err, DockerfileError)
        assert isinstance(err, InvalidInputError)
        assert err.exit_code == 4
        assert err.location is None
        # The word is quoted so that spaces and quotes in it are visible.
        assert err.message == 'failed to process "${VAR:?x}": VAR: x'
        assert err.word == "${VAR:?x}"

    def test_parser_can_rebuild_it_with_a_location(self) -> None:
        err = error_of("${VAR:?x}")
        where = SourceLocation("Dockerfile", 3, 5)
        located = ShellExpansionError(
            err.reason,
            word=err.word,
            detail=err.detail,
            variable=err.variable,
            location=where,
            hint=err.hint,
        )
        assert str(located) == 'Dockerfile:3:5: failed to process "${VAR:?x}": VAR: x'
        assert located.variable == "VAR"


class TestSyntaxErrors:
    @pytest.mark.parametrize("word", ["${}", "a${}b", "${:}", "${:-x}", "${{x}"])
    def test_bad_substitution(self, word: str) -> None:
        err = error_of(word)
        assert err.detail == "syntax error: bad substitution"
        assert err.variable is None
        assert err.hint is not None and "${NAME}" in err.hint

    @pytest.mark.parametrize(
        "word", ["${", "a${", "${VAR", "${VAR:", "${VAR:-x", "${VAR:-${X}", "${VAR#x", "${V:-'}'"]
    )
    def test_unterminated_brace(self, word: str) -> None:
        err = error_of(word)
        assert err.detail == "syntax error: missing '}'"
        assert err.hint is not None and "'}'" in err.hint

    def test_unterminated_substitution_pattern(self) -> None:
        assert error_of("${VAR/abc").detail == "syntax error: missing '/' in ${}"
        assert error_of("${VAR/a/b").detail == "syntax error: missing '}'"

    @pytest.mark.parametrize(
        ("word", "modifier"),
        [("${V:=x}", ":="), ("${V=x}", "="), ("${V:#x}", ":#"), ("${V:%%x}", ":%"), ("${V!}", "!")],
    )
    def test_unsupported_modifier(self, word: str, modifier: str) -> None:
        err = error_of(word, {"V": "v"})
        assert err.detail == f"unsupported modifier ({modifier}) in substitution"
        assert err.hint is not None and "${VAR:-word}" in err.hint

    @pytest.mark.parametrize(
        ("word", "kind"),
        [('"abc', "double-quote"), ("'abc", "single-quote"), ('a"b\\"', "double-quote")],
    )
    def test_unterminated_quote(self, word: str, kind: str) -> None:
        err = error_of(word)
        assert err.detail == f"unexpected end of statement while looking for matching {kind}"
        assert err.hint is not None and "quote" in err.hint

    def test_invalid_pattern_escape_names_pattern_as_written(self) -> None:
        err = error_of("${V#a\\x}", {"V": "a"})
        assert err.detail == "invalid pattern (a\\x) in substitution: invalid escape '\\x'"
        # BuildKit prints the reversed pattern for '%'; we show what the user wrote.
        err = error_of("${V%a\\x}", {"V": "a"})
        assert "(a\\x)" in err.detail
        # A pattern can only end in a lone backslash through a variable's value.
        lone = error_of("${V#$P}", {"V": "a", "P": "a\\"})
        assert lone.detail.startswith("invalid pattern (a\\) in substitution")

    def test_errors_inside_nested_words_keep_their_own_message(self) -> None:
        assert error_of("${A:-${B:?no B}}x").detail == "B: no B"
        assert error_of("${A:-${}}").detail == "syntax error: bad substitution"


# -- quoting and escapes -------------------------------------------------------


class TestEscapeCharacter:
    def test_backtick_escape_for_windows_dockerfiles(self) -> None:
        lex = ShellLex("`")
        word = 'a`$b C:\\path "a`"b" "x\\\\y"'
        assert lex.process_word(word, {"b": "B"}) == 'a$b C:\\path a"b x\\\\y'
        assert lex.process_words(word, {"b": "B"}) == ["a$b", "C:\\path", 'a"b', "x\\\\y"]

    def test_backslash_is_literal_with_backtick_escape(self) -> None:
        assert ShellLex("`").process_word("\\$X", {"X": "1"}) == "\\1"

    def test_escape_must_be_one_character(self) -> None:
        with pytest.raises(ValueError):
            ShellLex("")
        with pytest.raises(ValueError):
            ShellLex("\\\\")

    def test_escape_in_double_quotes_only_escapes_quote_dollar_and_itself(self) -> None:
        assert expand('"\\"\\$\\\\\\n"') == '"$\\\\n'


class TestSwitches:
    def test_raw_quotes_keeps_quotes_but_still_groups_words(self) -> None:
        lex = ShellLex()
        lex.raw_quotes = True
        assert lex.process_words("'a b' \"c $X\" d", {"X": "1"}) == ["'a b'", '"c 1"', "d"]

    def test_raw_escapes_keeps_escapes(self) -> None:
        lex = ShellLex()
        lex.raw_escapes = True
        assert lex.process_words('a\\ b "c\\"d"', {}) == ["a\\ b", 'c\\"d']
        assert lex.process_word("hello\\", {}) == "hello\\"
        assert ShellLex().process_word("hello\\", {}) == "hello"

    def test_skip_unset_env_leaves_references_as_written(self) -> None:
        word = "$X ${Y} ${Z:-d} ${W/a/b} $1 $SET"
        result, matched, unmatched = _lex(skip_unset_env=True).process_word_with_matches(
            word, {"SET": "s"}
        )
        assert result == "$X ${Y} ${Z:-d} ${W/a/b} $1 s"
        assert matched == {"SET"}
        assert unmatched == {"X", "Y", "Z", "W", "1"}

    def test_skip_unset_env_keeps_replace_all(self) -> None:
        # Divergence: BuildKit writes ${W/a/b} here, turning // into /.
        assert _lex(skip_unset_env=True).process_word("${W//a/b}", {}) == "${W//a/b}"

    def test_skip_unset_env_does_not_validate_modifier_of_unset_variable(self) -> None:
        assert _lex(skip_unset_env=True).process_word("${V:=x}", {}) == "${V:=x}"
        with pytest.raises(ShellExpansionError):
            _lex(skip_unset_env=True).process_word("${V:=x}", {"V": "set"})

    def test_skip_process_quotes_treats_quotes_as_text(self) -> None:
        lex = _lex(skip_process_quotes=True)
        assert lex.process_word("\"$X\" '$X'", {"X": "v"}) == "\"v\" 'v'"
        assert lex.process_words("'a b'", {}) == ["'a", "b'"]


def _lex(**switches: bool) -> ShellLex:
    lex = ShellLex()
    for name, value in switches.items():
        setattr(lex, name, value)
    return lex


# -- word splitting ------------------------------------------------------------


class TestWords:
    def test_nested_default_keeps_text_before_it(self) -> None:
        # Divergence: BuildKit since 2024 returns ["bc", "d"] (a shared buffer
        # is reset by the nested scan); the text before ${ belongs to the word.
        assert ShellLex().process_words("a${X:-b}c d", {}) == ["abc", "d"]
        assert ShellLex().process_words("v${X:-1 2}.0", {}) == ["v1", "2.0"]

    def test_split_uses_go_whitespace(self) -> None:
        # U+00A0 and U+3000 split, U+001C does not (Go's unicode.IsSpace).
        assert ShellLex().process_words("a\x1cb a\u00a0b c\u3000d", {}) == [
            "a\x1cb",
            "a",
            "b",
            "c",
            "d",
        ]

    def test_empty_quoted_words_are_dropped(self) -> None:
        assert ShellLex().process_words("'' a \"\" b", {}) == ["a", "b"]

    def test_heredoc_marker_stays_one_word(self) -> None:
        assert ShellLex().process_words("cat <<  EOF > out <x", {}) == [
            "cat",
            "<<  EOF",
            ">",
            "out",
            "<x",
        ]

    def test_plain_words_take_the_fast_path_with_the_same_rules(self) -> None:
        assert ShellLex().process_words("  a\tb \u2028c  ", {}) == ["a", "b", "c"]
        assert ShellLex().process_word("  a\tb  ", {}) == "  a\tb  "

    def test_process_gives_every_view(self) -> None:
        res = ShellLex().process('x ${A} "${B:-y z}"', {"A": "1 2"})
        assert res == ExpansionResult("x 1 2 y z", ["x", "1", "2", "y z"], {"A"}, {"B"})


# -- names, matches, environments ---------------------------------------------


class TestNamesAndEnv:
    def test_unicode_names_and_digits(self) -> None:
        env = {"한국": "k", "x": "X", "_a1": "u"}
        # '²' is not a decimal digit, so it ends the name, as in Go.
        assert expand("$한국 $x² ${_a1}", env) == "k X² u"

    def test_byte_order_mark_at_start_is_dropped(self) -> None:
        assert expand("\ufeff$X", {"X": "1"}) == "1"
        assert expand("a\ufeff", {}) == "a\ufeff"

    def test_matches_name_variables_as_written(self) -> None:
        lex = ShellLex(case_insensitive_env=True)
        _, matched, unmatched = lex.process_word_with_matches("$path $nope", {"PATH": "/bin"})
        assert matched == {"path"}
        assert unmatched == {"nope"}

    def test_case_insensitive_only_when_asked(self) -> None:
        env = {"Path": "C:\\bin"}
        assert (
            ShellLex(case_insensitive_env=True).process_word("$PATH;$path", env)
            == "C:\\bin;C:\\bin"
        )
        assert ShellLex().process_word("[$PATH]", env) == "[]"
        lex = ShellLex()
        lex.case_insensitive_env = True
        assert lex.process_word("$PATH", ["path=x"]) == "x"

    def test_env_list_later_entry_wins_and_bare_key_is_empty(self) -> None:
        env = ["A=1", "B", "A=2", "C=x=y"]
        assert expand("$A|${B-unset}|$C") == "|unset|"
        assert ShellLex().process_word("$A|${B-unset}|$C", env) == "2||x=y"

    def test_env_object(self) -> None:
        env = Env(["Path=1", "PATH=2"], case_insensitive=True)
        assert env.get("path") == "2"
        assert env.keys() == ("Path", "PATH")
        assert env.case_insensitive
        assert Env({"A": "1"}).get("a") is None
        # An Env brings its own rule, whatever the lexer's switch says.
        assert ShellLex().process_word("$path", env) == "2"
        with pytest.raises(TypeError):
            Env("A=1")

    def test_custom_getter(self) -> None:
        class Scope:
            def __init__(self) -> None:
                self.asked: list[str] = []

            def get(self, key: str, /) -> str | None:
                self.asked.append(key)
                return "v" if key == "HIT" else None

        scope = Scope()
        assert ShellLex().process_word_with_matches("$HIT-${MISS:-d}", scope) == (
            "v-d",
            {"HIT"},
            {"MISS"},
        )
        assert scope.asked == ["HIT", "MISS"]

    def test_one_string_is_not_an_environment(self) -> None:
        with pytest.raises(TypeError):
            ShellLex().process_word("$A", "A=1")

    def test_normalize_env_key(self) -> None:
        assert normalize_env_key("Path", case_insensitive=False) == "Path"
        assert normalize_env_key("Path", case_insensitive=True) == "PATH"
        # Go upper-cases character by character: ß has no one-character upper case.
        assert normalize_env_key("straße", case_insensitive=True) == "STRAßE"


# -- patterns ------------------------------------------------------------------


class TestPatterns:
    @pytest.mark.parametrize(
        ("word", "expected"),
        [
            ("${F#*/}", "b/c.tar.gz"),
            ("${F##*/}", "c.tar.gz"),
            ("${F%.*}", "a/b/c.tar"),
            ("${F%%.*}", "a/b/c"),
            ("${F#a?b}", "/c.tar.gz"),
            ("${F#[a]}", "a/b/c.tar.gz"),  # no bracket expressions: '[' is literal
            ("${F/b/X}", "a/X/c.tar.gz"),
            ("${F//\\//-}", "a-b-c.tar.gz"),
            ("${F/#a/X}", "a/b/c.tar.gz"),  # no '#' anchor either
        ],
    )
    def test_trim_and_replace(self, word: str, expected: str) -> None:
        assert expand(word, {"F": "a/b/c.tar.gz"}) == expected

    def test_wildcards_do_not_match_newlines(self) -> None:
        assert expand("${V#?}|${V##*}|${V%?}|${V%%*}", {"V": "a\nb"}) == "\nb|\nb|a\n|a\n"

    def test_replace_all_follows_go_regexp(self) -> None:
        env = {"V": "abc"}
        # An empty match right after a match is not replaced again.
        assert expand("${V//*/x}", env) == "x"
        # Go's ReplaceAllString expands $0 to the match and $$ to $ in the
        # replacement (reachable through escapes); replace-first does not.
        assert expand("${V//b/[\\$0]}", env) == "a[\\b]c"
        assert expand("${V/b/[\\$0]}", env) == "a[\\$0]c"
        assert expand("${V//b/\\$\\$\\$x}", env) == "a\\$\\$\\c"
        # A variable's value is a template too: $$ is $, ${0} the match, $1 empty.
        env["R"] = "<$$|${0}|$1>"
        assert expand("${V//b/$R}", env) == "a<$|b|>c"
        assert expand("${V/b/$R}", env) == "a<$$|${0}|$1>c"

    def test_empty_pattern_matches_at_start(self) -> None:
        assert expand("${V/$E/w}", {"V": "xy", "E": ""}) == "wxy"
        assert expand("${V///}", {"V": "xy"}) == "xy"

    def test_quoted_escape_in_pattern(self) -> None:
        # Inside double quotes a raw escape is written twice, so "a\b" is a
        # valid pattern for the text a\b (BuildKit behaviour).
        assert expand('${V%"a\\b"}', {"V": "xa\\b"}) == "x"

    def test_expanded_pattern_characters_are_wildcards(self) -> None:
        assert expand("${V#$P}", {"V": "abc", "P": "?"}) == "bc"
        assert expand("${V#$P}", {"V": "*bc", "P": "\\*"}) == "bc"
