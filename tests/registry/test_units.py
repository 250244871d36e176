"""The pure pieces: challenge parsing, scopes, retry timing, Link headers, reprs."""

from __future__ import annotations

import email.utils

import pytest

from anyarch.registry import Credential, RetryPolicy, fallback_tag, static_credentials
from anyarch.registry.challenge import parse_challenges, pick_challenge
from anyarch.registry.manifests import sniff_media_type
from anyarch.registry.retry import parse_retry_after
from anyarch.registry.scopes import covers, normalize, push_scope
from anyarch.registry.tags import next_link
from anyarch.registry.transport import origin
from helpers.registry import need_tool


def test_bearer_challenge_keeps_commas_and_colons_inside_quotes() -> None:
    header = (
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:a/b:pull,push repository:c:pull"'
    )
    (ch,) = parse_challenges(header)
    assert ch.scheme == "bearer"
    assert ch.realm == "https://auth.example.com/token"
    assert ch.service == "registry.example.com"
    assert ch.scopes == ("repository:a/b:pull,push", "repository:c:pull")


def test_bearer_is_preferred_over_basic_and_unknown_schemes_ignored() -> None:
    picked = pick_challenge(['Negotiate, Basic realm="x"', 'Bearer realm="https://t/token"'])
    assert picked is not None and picked.scheme == "bearer"
    picked = pick_challenge(['Basic realm="Registry Realm"'])
    assert picked is not None and picked.scheme == "basic" and picked.realm == "Registry Realm"
    assert pick_challenge(["Negotiate"]) is None


def test_escaped_quote_in_challenge() -> None:
    (ch,) = parse_challenges(r'Basic realm="say \"hi\"", charset=UTF-8')
    assert ch.realm == 'say "hi"'
    assert ch.params["charset"] == "UTF-8"


def test_scope_coverage_lets_a_push_token_serve_pulls() -> None:
    granted = normalize([push_scope("a/b"), "repository:c:pull"])
    assert covers(granted, ["repository:a/b:pull"])
    assert covers(granted, ["repository:a/b:push", "repository:c:pull"])
    assert not covers(granted, ["repository:c:push"])
    assert not covers(granted, ["repository:other:pull"])
    assert normalize(["repository:x:push", "repository:x:pull"]) == ("repository:x:pull,push",)


def test_backoff_grows_is_capped_and_jittered() -> None:
    p = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=0.5, rand=lambda: 1.0)
    assert [p.delay(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    low = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=0.5, rand=lambda: 0.0)
    assert low.delay(2) == 1.0  # half of the backoff is random


def test_retry_after_is_honoured_but_capped() -> None:
    p = RetryPolicy(max_retry_after=10.0)
    assert p.delay(1, retry_after=3.0) == 3.0
    assert p.delay(1, retry_after=3600.0) == 10.0
    assert parse_retry_after("7") == 7.0
    when = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(when, now=1_000_000) == pytest.approx(30.0)
    assert parse_retry_after("soon") is None


def test_retry_policy_never_retries_auth_or_not_found() -> None:
    p = RetryPolicy()
    assert all(p.should_retry_status(s) for s in (408, 429, 500, 502, 503, 504))
    assert not any(p.should_retry_status(s) for s in (400, 401, 403, 404, 405))


def test_link_header_next() -> None:
    assert next_link('</v2/r/tags/list?n=2&last=b>; rel="next"') == "/v2/r/tags/list?n=2&last=b"
    assert next_link('<https://x/a>; rel="prev", <https://x/b>; rel=next') == "https://x/b"
    assert next_link(None) is None


def test_credentials_never_show_their_secret() -> None:
    cred = Credential("bob", "hunter2-secret")
    tok = Credential(identity_token="refresh-abc123")
    for text in (repr(cred), str(cred), repr([cred]), repr(tok)):
        assert "hunter2-secret" not in text and "refresh-abc123" not in text
    assert "bob" in repr(cred)
    src = static_credentials("bob", "hunter2-secret")
    assert src("any.registry") == cred


def test_origin_distinguishes_ports_and_schemes() -> None:
    assert origin("http://127.0.0.1:5000/v2/") == origin("http://127.0.0.1:5000/x?y")
    assert origin("http://127.0.0.1:5000/") != origin("http://127.0.0.1:5001/")
    assert origin("https://h/") == ("https", "h", 443)
    assert origin("https://h/") != origin("http://h/")


def test_fallback_tag_and_sniffing() -> None:
    assert fallback_tag("sha256:" + "a" * 64) == "sha256-" + "a" * 64
    assert sniff_media_type(b'{"schemaVersion":2,"manifests":[]}').endswith("index.v1+json")
    assert sniff_media_type(b'{"mediaType":"x/y"}') == "x/y"
    assert sniff_media_type(b"not json") == ""


def test_missing_real_tool_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("ANYARCH_REQUIRE_REAL", "1")
    with pytest.raises(pytest.fail.Exception, match="anyarch-no-such-tool is not installed"):
        need_tool("anyarch-no-such-tool")
    monkeypatch.delenv("ANYARCH_REQUIRE_REAL")
    with pytest.raises(pytest.skip.Exception, match="anyarch-no-such-tool is not installed"):
        need_tool("anyarch-no-such-tool")
