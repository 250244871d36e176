"""``--format`` templates must print what Docker prints for the same template.

Every expected output below is what Go's text/template produces for the same
template and the same document decoded into Go ``interface{}`` values (maps,
slices, int for integers, float64 for fractions), with Docker's template
functions (docker/cli templates/templates.go) installed.  The cases were
checked against a Go toolchain's text/template; the few that depend on a
newer Go than that one, or on a deliberate difference, say so.

References quoted in comments: https://pkg.go.dev/text/template ("doc"),
src/text/template/exec.go and funcs.go, and https://pkg.go.dev/fmt.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyarch._util.gotemplate import SUPPORTED_FUNCTIONS, parse_template, render
from anyarch.errors import TemplateError

# A trimmed `docker image inspect` document.
IMAGE: dict[str, object] = {
    "Id": "sha256:" + "ab" * 32,
    "RepoTags": ["app:1", "app:latest"],
    "RepoDigests": [],
    "Os": "linux",
    "Architecture": "arm64",
    "Variant": "v8",
    "Size": 7654321,
    "Config": {
        "User": "",
        "Env": ["PATH=/usr/bin", "LANG=C.UTF-8"],
        "Labels": {"org.opencontainers.image.title": "app", "maintainer": "me", "beta": "yes"},
        "Entrypoint": None,
        "Cmd": ["/bin/sh"],
    },
    "RootFS": {"Type": "layers", "Layers": ["sha256:" + "01" * 32, "sha256:" + "02" * 32]},
    "Ratio": 0.25,
    "Big": 1e6,
    "Zero": 0,
    "Flag": True,
    "Mixed": [1, 2.5, "s", None, True, {"k": [1]}],
}


def r(template: str, data: object = IMAGE) -> str:
    return render(template, data)


CASES = [
    # --- text, fields, dot -------------------------------------------------------
    ("plain text", "no actions here", "no actions here"),
    ("the README promise", "{{.Os}}/{{.Architecture}}", "linux/arm64"),
    ("nested field", "{{.RootFS.Type}}", "layers"),
    ("int field", "{{.Size}}", "7654321"),
    ("bool field", "{{.Flag}}", "true"),
    # doc: "The result of a map key lookup on a missing key is the zero value"
    # ... printed for an interface{} map as exec.go's "<no value>".
    ("missing key", "{{.Nope}}", "<no value>"),
    ("field of a missing key", "{{.Nope.Deeper}}", "<no value>"),
    # a JSON null in a map[string]interface{} is a nil interface: also <no value>
    ("null value", "{{.Config.Entrypoint}}", "<no value>"),
    ("dollar is the data", "{{$.Os}}", "linux"),
    # --- how values print (fmt %v) -------------------------------------------------
    # fmt: "maps are printed in key-sorted order"
    (
        "map prints sorted",
        "{{.Config.Labels}}",
        "map[beta:yes maintainer:me org.opencontainers.image.title:app]",
    ),
    ("list prints space separated", "{{.Config.Env}}", "[PATH=/usr/bin LANG=C.UTF-8]"),
    ("empty list", "{{.RepoDigests}}", "[]"),
    # nested nil prints <nil>; top-level nil is <no value>
    ("mixed list", "{{.Mixed}}", "[1 2.5 s <nil> true map[k:[1]]]"),
    ("nested map", "{{.RootFS}}", "map[Layers:[sha256:" + "01" * 32 + " sha256:" + "02" * 32 + "] Type:layers]"),
    # %v of a float64 is %g with the shortest representation: exponent from 1e6 up
    ("float", "{{.Ratio}} {{.Big}}", "0.25 1e+06"),
    ("float literals", "{{1.5}} {{1e3}} {{100000.0}} {{1e6}} {{0.0001}} {{0.00001}}", "1.5 1000 100000 1e+06 0.0001 1e-05"),
    ("int literals", "{{-3}} {{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}} {{'a'}}", "-3 31 15 15 5 1000 97"),
    ("string literals", '{{"a\\tb\\x41\\u00e9\\101"}}|{{`raw\\n`}}', "a\tbAéA|raw\\n"),
    ("bool literals", "{{true}} {{false}}", "true false"),
    # --- json (Docker's function: json.Encoder, SetEscapeHTML(false), trimmed) ---
    ("json list", "{{json .Config.Env}}", '["PATH=/usr/bin","LANG=C.UTF-8"]'),
    ("json null", "{{json .Config.Entrypoint}} {{json .Nope}}", "null null"),
    ("json string keeps html", '{{json "<a&b>"}}', '"<a&b>"'),
    # encoding/json since Go 1.22 writes \b and \f rather than \u0008 and \u000c
    ("json backspace formfeed", '{{json "\\b\\f"}}', '"\\b\\f"'),
    ("json escapes", '{{json "q\\"\\\\\\n\\t\\x01\\u2028"}}', '"q\\"\\\\\\n\\t\\u0001\\u2028"'),
    ("json scalars", "{{json .Size}} {{json .Flag}} {{json .Ratio}}", "7654321 true 0.25"),
    # encoding/json: 'f' layout in [1e-6, 1e21), else 'e' with e-07 cleaned to e-7
    ("json floats", "{{json 1.0}} {{json 1e20}} {{json 1e21}} {{json 1e-7}} {{json 0.000001}}", "1 100000000000000000000 1e+21 1e-7 0.000001"),
    ("json of a field chain", "{{json .RootFS.Type}}", '"layers"'),
    # --- index -------------------------------------------------------------------
    ("index map", '{{index .Config.Labels "maintainer"}}', "me"),
    ("index dotted key", '{{index .Config.Labels "org.opencontainers.image.title"}}', "app"),
    ("index missing key", '{{index .Config.Labels "nope"}}', "<no value>"),
    ("index list", "{{index .RepoTags 1}}", "app:latest"),
    ("index nested", '{{index .Mixed 5 "k" 0}}', "1"),
    ("index string is a byte", '{{index "héllo" 1}}', "195"),
    ("index then field", "{{(index .Mixed 5).k}}", "[1]"),
    # --- range ---------------------------------------------------------------------
    ("range list", "{{range .RepoTags}}[{{.}}]{{end}}", "[app:1][app:latest]"),
    ("range one var", "{{range $t := .RepoTags}}{{$t}};{{end}}", "app:1;app:latest;"),
    ("range index and element", "{{range $i, $t := .RepoTags}}{{$i}}={{$t}} {{end}}", "0=app:1 1=app:latest "),
    # doc: "If the value is a map and the keys are of basic type with a defined
    # order, the elements will be visited in sorted key order."
    (
        "range map sorted",
        "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{println}}{{end}}",
        "beta=yes\nmaintainer=me\norg.opencontainers.image.title=app\n",
    ),
    ("range map values", "{{range .Config.Labels}}{{.}},{{end}}", "yes,me,app,"),
    ("range empty runs else", "{{range .RepoDigests}}x{{else}}none{{end}}", "none"),
    ("range missing runs else", "{{range .Nope}}x{{else}}none{{end}}", "none"),
    ("range null runs else", "{{range .Config.Entrypoint}}x{{else}}none{{end}}", "none"),
    ("range nil element", "{{range .Mixed}}<{{.}}>{{end}}", "<1><2.5><s><<no value>><true><map[k:[1]]>"),
    ("range dollar inside", "{{range .RepoTags}}{{$.Os}}{{end}}", "linuxlinux"),
    ("range separator idiom", "{{range $i, $t := .RepoTags}}{{if $i}}, {{end}}{{$t}}{{end}}", "app:1, app:latest"),
    ("break", '{{range .RepoTags}}{{if eq . "app:latest"}}{{break}}{{end}}{{.}}{{end}}', "app:1"),
    ("continue", '{{range .RepoTags}}{{if eq . "app:1"}}{{continue}}{{end}}{{.}}{{end}}', "app:latest"),
    # doc (Go 1.22): "The value of the pipeline must be an array, slice, map,
    # iter.Seq, iter.Seq2, integer or channel"; an integer n counts 0..n-1.
    ("range integer", "{{range 3}}{{.}}{{end}}", "012"),
    ("range zero", "{{range .Zero}}x{{else}}none{{end}}", "none"),
    # --- if / else if / with ---------------------------------------------------------
    ("if", '{{if eq .Os "linux"}}L{{end}}', "L"),
    ("else if chain", '{{if eq .Os "x"}}X{{else if eq .Os "linux"}}L{{else}}?{{end}}', "L"),
    ("else", '{{if eq .Os "x"}}X{{else}}other{{end}}', "other"),
    # doc: "The empty values are false, 0, any nil pointer or interface value,
    # and any array, slice, map, or string of length zero."
    (
        "truthiness",
        "{{if .Zero}}1{{else}}0{{end}}{{if .RepoDigests}}1{{else}}0{{end}}{{if .Config.User}}1{{else}}0{{end}}"
        "{{if .Config.Entrypoint}}1{{else}}0{{end}}{{if .Nope}}1{{else}}0{{end}}{{if .Ratio}}1{{else}}0{{end}}",
        "000001",
    ),
    ("with rebinds dot", "{{with .Config.Labels}}{{.maintainer}}{{end}}", "me"),
    ("with else", "{{with .RepoDigests}}x{{else}}no digests{{end}}", "no digests"),
    ("with declares", "{{with $l := .Config.Labels}}{{$l.beta}}{{end}}", "yes"),
    # doc (Go 1.23): "{{with pipeline}} T1 {{else with pipeline}} T0 {{end}}"
    ("else with", "{{with .Nope}}x{{else with .Os}}{{.}}{{end}}", "linux"),
    # --- boolean functions: and/or return an operand and short-circuit -------------
    ("and or not", '{{and 1 0}} {{and 1 "y"}} {{or 0 ""}} {{or 0 "x"}} {{not .Zero}}', "0 y  x true"),
    ("or default idiom", '{{or .Nope "default"}}', "default"),
    ("and short-circuits", "{{and .Zero (index .Nope 1)}}", "0"),
    # --- comparisons -------------------------------------------------------------------
    ("eq several", '{{eq .Architecture "amd64" "arm64"}}', "true"),
    ("comparisons", '{{ne 1 2}} {{lt 1 2}} {{le 2 2}} {{gt 1.5 2.5}} {{ge "b" "a"}}', "true true true false true"),
    ("eq nil", "{{eq .Nope .Config.Entrypoint}} {{eq .Os .Nope}}", "true false"),
    ("eq byte and rune", "{{eq (index .Os 0) 'l'}}", "true"),
    # --- strings -------------------------------------------------------------------------
    ("join", '{{join .RepoTags ", "}}', "app:1, app:latest"),
    ("split", '{{split "a,b,c" ","}} {{len (split "a,b" ",")}}', "[a b c] 2"),
    ("split empty separator", '{{split "abc" ""}}', "[a b c]"),
    ("lower upper", "{{upper .Os}} {{lower `ÀB`}}", "LINUX àb"),
    # strings.Title: first letter of each word; '_' is not a separator
    ("title", '{{title "hello wide-world foo_bar"}}', "Hello Wide-World Foo_bar"),
    ("len", "{{len .RepoTags}} {{len .Config.Labels}} {{len .Os}} {{len `héllo`}}", "2 3 5 6"),
    ("slice", '{{slice "hello" 1 3}} {{slice .RepoTags 1}}', "el [app:latest]"),
    ("pad", "[{{pad .Os 2 1}}][{{pad .Config.User 2 2}}]", "[  linux ][]"),
    ("truncate", "{{truncate .Id 12}} {{truncate .Os 99}}", "sha256:ababa linux"),
    ("html", "{{html `<a href='x'>&</a>`}}", "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"),
    ("html nul", '{{html "a\\x00b"}}', "a\ufffdb"),  # funcs.go: htmlNull
    ("html of several", "{{html .Nope 1 2}}", "&lt;no value&gt;1 2"),  # evalArgs
    ("urlquery", '{{urlquery "http://x.org/ a~b"}}', "http%3A%2F%2Fx.org%2F+a~b"),
    # --- print family (fmt) ------------------------------------------------------------------
    # fmt.Sprint: "Spaces are added between operands when neither is a string."
    ("print", '{{print 1 2 "a" 3 nil}}', "1 2a3 <nil>"),
    ("println", "{{println}}|{{println 1 `a`}}", "\n|1 a\n"),
    ("printf basic verbs", '{{printf "%s/%d/%v/%q" .Os .Size .Big .Os}}', 'linux/7654321/1e+06/"linux"'),
    (
        "printf width precision flags",
        '{{printf "%5.2f|%-4s|%04d|%x|%X|%#x|%o|%b|%c|%U|%e|%g|%+d" 3.14159 "ab" 42 255 255 255 8 5 65 65 1234.5678 0.000001 5}}',
        " 3.14|ab  |0042|ff|FF|0xff|10|101|A|U+0041|1.234568e+03|1e-06|+5",
    ),
    ("printf type", '{{printf "%T %T %T %T %T" 1 1.5 "s" .RepoTags .Config}}', "int float64 string []interface {} map[string]interface {}"),
    ("printf list", '{{printf "%q" .RepoTags}}', '["app:1" "app:latest"]'),
    # fmt's error strings are output, not errors
    ("printf wrong verb", '{{printf "%d" .Os}}', "%!d(string=linux)"),
    ("printf missing arg", '{{printf "%s %s" .Os}}', "linux %!s(MISSING)"),
    ("printf extra arg", '{{printf "%s" .Os 1}}', "linux%!(EXTRA int=1)"),
    ("printf nil", '{{printf "%s|%v" .Nope .Nope}}', "%!s(<nil>)|<nil>"),
    ("printf percent", '{{printf "100%%"}}', "100%"),
    # --- pipelines and variables -------------------------------------------------------------
    ("pipe", "{{.Os | upper}}", "LINUX"),
    # doc: "the result of the previous command is passed as the last argument"
    ("pipe is last argument", '{{.Os | printf "%s/%s" .Architecture}}', "arm64/linux"),
    ("pipe chain", '{{.Config.Labels | len | printf "%03d"}}', "003"),
    ("parenthesised", '{{printf "%s" (index .RepoTags 0) | upper}}', "APP:1"),
    ("variable", "{{$a := .Architecture}}{{$a}}", "arm64"),
    ("assignment", "{{$x := 1}}{{$x = 2}}{{$x}}", "2"),
    ("variable in if persists to end", "{{if true}}{{$v := 1}}{{$v}}{{end}}", "1"),
    # --- whitespace trimming and comments ----------------------------------------------------
    # doc: "{{- " trims all trailing white space from the immediately preceding text
    ("trim", "a  \n {{- .Os -}} \n\t b", "alinuxb"),
    ("trim needs the space", "{{-3}}", "-3"),
    ("trim across lines", "{{range .RepoTags -}}\n  {{.}}\n{{- end}}", "app:1app:latest"),
    ("comment", "a{{/* a comment */}}b", "ab"),
    ("comment trim", "a {{- /* c */ -}} b", "ab"),
    ("multi-line comment", "a{{/*\nline\n*/}}b", "ab"),
    ("newlines inside an action", "{{\n  .Os\n}}", "linux"),
]


@pytest.mark.parametrize(("template", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_output_matches_go(template: str, expected: str) -> None:
    assert r(template) == expected


def test_nil_data() -> None:
    # exec.go: Execute(w, nil) makes dot the invalid value; fields of it are missing
    assert render("{{.}}|{{.X}}|{{json .}}", None) == "<no value>|<no value>|null"


def test_list_data() -> None:
    assert render("{{range .}}{{.Architecture}} {{end}}", [IMAGE, {"Architecture": "amd64"}]) == "arm64 amd64 "


def test_json_keeps_document_order() -> None:
    # Deliberate: Go sorts map keys, but our dicts stand for Docker's structs,
    # which encoding/json writes in field order; `docker inspect` order it is.
    assert render("{{json .}}", {"b": 1, "a": {"z": None, "y": [1.5]}}) == '{"b":1,"a":{"z":null,"y":[1.5]}}'


def test_json_of_nan_prints_nothing() -> None:
    # encoding/json refuses NaN; Docker's json helper ignores the error
    assert render("[{{json .}}]", math.nan) == "[]"


def test_template_parses_once_and_renders_many() -> None:
    tmpl = parse_template("{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}")
    outs = [tmpl.render(d) for d in ({"Architecture": "arm64", "Variant": "v8"}, {"Architecture": "amd64"})]
    assert outs == ["arm64/v8", "amd64"]


def test_variables_do_not_leak_between_renders() -> None:
    tmpl = parse_template("{{$x := .}}{{$x}}")
    assert [tmpl.render(1), tmpl.render(2)] == ["1", "2"]


# --- errors -------------------------------------------------------------------------------

PARSE_ERRORS = [
    # (template, text that must appear, column)
    ("{{.Os", "unclosed action", "column 1"),
    ("ab{{if .Os}}x", "unclosed {{if}}: missing {{end}}", "column 3"),
    ("{{end}}", "unexpected {{end}}", "column 3"),
    ("{{else}}", "unexpected {{else}}", "column 3"),
    ("{{if 1}}a{{else}}b{{else}}c{{end}}", "second {{else}}", "column 21"),
    ("{{.Os | nope}}", 'function "nope" not defined', "column 9"),
    ("{{call .X}}", 'function "call" is not supported', "column 3"),
    ('{{define "x"}}y{{end}}', "{{define}} is not supported", "column 3"),
    ('{{template "x"}}', "{{template}} is not supported", "column 3"),
    ('{{block "x" .}}y{{end}}', "{{block}} is not supported", "column 3"),
    ("{{$y}}", 'undefined variable "$y"', "column 3"),
    ("{{with $x := 1}}{{end}}{{$x}}", 'undefined variable "$x"', "column 26"),
    ("{{break}}", "{{break}} outside {{range}}", "column 3"),
    ("{{range .L}}{{else}}{{continue}}{{end}}", "{{continue}} outside {{range}}", "column 23"),
    ("{{/* open", "unclosed comment", "column 1"),
    ("{{/* c */ x}}", "comment ends before closing delimiter", "column 1"),
    ("{{ /* c */ }}", 'unexpected "/" in command', "column 4"),
    ("{{}}", "missing value for command", "column 3"),
    ("{{.Os | 3}}", "non executable command in pipeline stage 2", "column 9"),
    ('{{"abc}}', "unterminated quoted string", "column 3"),
    ("{{'ab'}}", "malformed character constant", "column 3"),
    ("{{1.E}}", 'illegal number syntax: "1.E"', "column 3"),
    ("{{1+2i}}", "complex numbers are not supported", "column 3"),
    ("{{printf 3, 4}}", 'unexpected "," in operand', "column 11"),
    ("{{(.Os}}", "unclosed left paren", "column 7"),
    ("{{.Os)}}", "unexpected right paren", "column 6"),
    ("{{.Os #}}", 'unexpected "#" in operand', "column 7"),
    ("{{ \x01}}", "unrecognized character in action: U+0001", "column 4"),
    ("{{.Os\x01}}", "bad character U+0001", "column 6"),
    ('{{"a".b}}', 'unexpected . after term "\\"a\\""', "column 6"),
    ("{{with $a, $b := 1}}{{end}}", "too many declarations in with", "column 10"),
    ("line one\n  {{.X | nope}}", 'function "nope" not defined', "line 2, column 10"),
    ('{{"\\q"}}', "unknown escape sequence", "column 3"),
]


@pytest.mark.parametrize(("template", "what", "where"), PARSE_ERRORS, ids=[e[0] for e in PARSE_ERRORS])
def test_parse_errors_name_the_column_and_construct(template: str, what: str, where: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse_template(template)
    err = info.value
    assert err.message == f"invalid template: {where}: {err.message.split(': ', 2)[2]}"
    assert what in err.message
    assert "\n" not in err.message
    # the hint lists what can be used instead
    assert err.hint is not None and "printf" in err.hint and "{{range}}" in err.hint
    assert err.exit_code == 4


EXEC_ERRORS = [
    ("{{.Os.Foo}}", "<.Os.Foo>: can't evaluate field Foo in type string"),
    ("{{.Config.Entrypoint.X}}", "<.Config.Entrypoint.X>: nil pointer evaluating interface {}.X"),
    ("{{index .RepoTags 5}}", "<index .RepoTags 5>: error calling index: index out of range: 5"),
    ("{{index .Config.Labels 1}}", "error calling index: value has type int; should be string"),
    ('{{eq .Size "1"}}', "error calling eq: incompatible types for comparison: int and string"),
    ("{{eq 2 2.0}}", "incompatible types for comparison: int and float64"),
    ("{{lt true true}}", "error calling lt: invalid type for comparison"),
    ("{{eq .RepoTags .RepoTags}}", "non-comparable type"),
    ("{{lower 3}}", "<3>: expected string; found 3"),
    ("{{lower .Nope}}", "<.Nope>: invalid value; expected string"),
    ("{{lower .Config.Entrypoint}}", "wrong type for value; expected string; got interface {}"),
    ("{{join .Size `,`}}", "wrong type for value; expected []string; got int"),
    ("{{1 | printf}}", "<printf>: wrong type for value; expected string; got int"),
    ("{{range .Os}}{{end}}", "range can't iterate over linux"),
    ("{{range $i, $e := 3}}{{end}}", "can't use 3 to iterate over more than one variable"),
    ("{{len 3}}", "error calling len: len of type int"),
    ("{{upper}}", "wrong number of args for upper: want 1 got 0"),
    ("{{and}}", "wrong number of args for and: want at least 1 got 0"),
    ("{{nil}}", "nil is not a command"),
    ("{{3 2}}", "can't give argument to non-function 3"),
    ('{{.Config.Labels "x"}}', "Labels is not a method but has arguments"),
    ("{{slice .Os 3 1}}", "error calling slice: invalid slice index: 3 > 1"),
    ("{{(1).X}}", "<(1).X>: can't evaluate field X in type int"),
]


@pytest.mark.parametrize(("template", "what"), EXEC_ERRORS, ids=[e[0] for e in EXEC_ERRORS])
def test_execution_errors_name_the_construct(template: str, what: str) -> None:
    tmpl = parse_template(template)  # these parse, as in Go
    with pytest.raises(TemplateError) as info:
        tmpl.render(IMAGE)
    assert info.value.message.startswith("template failed: column ")
    assert what in info.value.message
    assert info.value.hint


def test_error_column_counts_characters_on_the_line() -> None:
    with pytest.raises(TemplateError, match=r"line 3, column 7: <\.Os\.X>"):
        render("a\nb\nxé  {{.Os.X}}", IMAGE)


def test_supported_functions_are_the_documented_set() -> None:
    assert set(SUPPORTED_FUNCTIONS) == {
        "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "slice",
        "print", "printf", "println", "html", "urlquery",
        "json", "split", "join", "title", "lower", "upper", "pad", "truncate",
    }  # fmt: skip
    for name in SUPPORTED_FUNCTIONS:  # every one of them parses as a function
        parse_template("{{" + name + " 1}}")


# --- properties -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


def _same(read: object, written: object) -> bool:
    """Equal as JSON: Go writes an integral float64 without a fraction (1e16 as 10000000000000000)."""
    if isinstance(written, float):
        return isinstance(read, (int, float)) and float(read) == written
    if isinstance(written, dict):
        return isinstance(read, dict) and read.keys() == written.keys() and all(_same(read[k], v) for k, v in written.items())
    if isinstance(written, list):
        return isinstance(read, list) and len(read) == len(written) and all(map(_same, read, written))
    return type(read) is type(written) and read == written


@given(json_values)
def test_json_output_reads_back_as_the_same_document(value: object) -> None:
    out = render("{{json .}}", value)
    assert _same(json.loads(out), value)
    assert "\n" not in out


@given(st.text().filter(lambda s: "{{" not in s))
def test_text_without_actions_is_copied(text: str) -> None:
    assert render(text, IMAGE) == text


@given(st.text())
def test_a_string_prints_as_itself(s: str) -> None:
    assert render("{{.}}", s) == s
    assert render("{{.s}}", {"s": s}) == s
