"""Browser sessions: a cookie signed with HMAC-SHA256, read back only when its signature, shape and expiry hold."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from engine.access.sessions import SESSION_TTL_MS, Session, SessionSigner

KEY = b"k" * 32
NOW = 1_700_000_000_000
signer = SessionSigner(KEY)


def signed(body: bytes, key: bytes = KEY) -> str:
    """A cookie of any body, signed as the engine signs (written out here, not borrowed from SessionSigner)."""
    encoded = base64.urlsafe_b64encode(body)
    mac = base64.urlsafe_b64encode(hmac.new(key, encoded, hashlib.sha256).digest()).decode().rstrip("=")
    return f"{encoded.decode()}.{mac}"


def test_an_opened_session_reads_back():
    cookie, session = signer.open("alice", NOW)
    assert session == Session("alice", NOW, NOW + SESSION_TTL_MS, session.csrf)
    assert signer.read(cookie, NOW) == session
    assert signer.read(cookie, NOW + SESSION_TTL_MS - 1) == session


def test_a_cookie_written_out_here_reads_as_the_signer_reads_it():
    # checks `signed` above, which the malformed-body tests below rely on to get past the signature
    cookie = signed(json.dumps({"u": "bob", "o": NOW, "e": NOW + 10, "c": "t"}).encode())
    assert signer.read(cookie, NOW) == Session("bob", NOW, NOW + 10, "t")


def test_each_session_has_its_own_csrf_token():
    first, second = signer.open("alice", NOW)[1], signer.open("alice", NOW)[1]
    assert first.csrf != second.csrf
    assert len(first.csrf) >= 32


def test_a_session_is_gone_at_its_expiry():
    cookie, _ = signer.open("alice", NOW, ttl_ms=1000)
    assert signer.read(cookie, NOW + 999) is not None
    assert signer.read(cookie, NOW + 1000) is None
    assert signer.read(cookie, NOW + 10 * SESSION_TTL_MS) is None


def test_a_session_opened_already_expired_never_reads():
    cookie, _ = signer.open("alice", NOW, ttl_ms=0)
    assert signer.read(cookie, NOW) is None


def test_a_tampered_body_is_refused():
    cookie, _ = signer.open("alice", NOW)
    body, mac = cookie.split(".")
    # another user under the original signature
    forged = base64.urlsafe_b64encode(base64.urlsafe_b64decode(body).replace(b'"alice"', b'"admin"')).decode()
    assert signer.read(f"{forged}.{mac}", NOW) is None
    # a later expiry under the original signature
    later = json.loads(base64.urlsafe_b64decode(body))
    later["e"] += SESSION_TTL_MS
    extended = base64.urlsafe_b64encode(json.dumps(later, separators=(",", ":")).encode()).decode()
    assert signer.read(f"{extended}.{mac}", NOW + SESSION_TTL_MS + 1) is None


@pytest.mark.parametrize("change", [lambda m: m[:-1], lambda m: m + "A", lambda m: m[::-1], lambda m: "",
                                    lambda m: m.upper(), lambda m: "A" * len(m)],
                         ids=["shortened", "lengthened", "reversed", "empty", "upper-cased", "replaced"])
def test_a_tampered_mac_is_refused(change):
    cookie, _ = signer.open("alice", NOW)
    body, mac = cookie.split(".")
    assert change(mac) != mac
    assert signer.read(f"{body}.{change(mac)}", NOW) is None


def test_a_flipped_character_anywhere_is_refused():
    cookie, _ = signer.open("alice", NOW)
    for i, char in enumerate(cookie):
        if char == ".":
            continue
        flipped = cookie[:i] + ("B" if char != "B" else "C") + cookie[i + 1:]
        assert signer.read(flipped, NOW) is None, i


@pytest.mark.parametrize("key", [b"", b"k" * 31, b"K" * 32, b"k" * 33])
def test_a_cookie_signed_with_another_key_is_refused(key):
    cookie, _ = SessionSigner(key).open("alice", NOW)
    assert signer.read(cookie, NOW) is None
    assert SessionSigner(key).read(cookie, NOW) is not None


@pytest.mark.parametrize("cookie", ["", ".", "a.", ".a", "no-dot-at-all", "a.b", "..", "a.b.c", "\u00e9.\u00e9",
                                    "\x00.\x00", "%%%.%%%"])
def test_a_malformed_cookie_is_refused(cookie):
    assert signer.read(cookie, NOW) is None


@pytest.mark.parametrize("body", [
    b"not json",
    b"",
    b"\xff\xfe",  # not UTF-8
    b"[]",
    b'"a string"',
    b"null",
    b"{}",
    b'{"u": "a", "o": 1, "e": 1}',  # no csrf
    b'{"u": "a", "o": "x", "e": 1, "c": "t"}',  # not a number
    b'{"u": "a", "o": null, "e": 1, "c": "t"}',
    b'{"u": "a", "o": [1], "e": 1, "c": "t"}',
], ids=lambda b: repr(b[:30]))
def test_a_well_signed_cookie_with_a_malformed_body_is_refused_not_raised(body):
    # past the signature only with the key, but "forged, malformed or expired" must still read as None
    assert signer.read(signed(body), NOW) is None


def test_a_body_that_is_not_base64_is_refused():
    encoded = b"!!!not*base64"
    mac = base64.urlsafe_b64encode(hmac.new(KEY, encoded, hashlib.sha256).digest()).decode().rstrip("=")
    assert signer.read(f"{encoded.decode()}.{mac}", NOW) is None


def test_a_10_kb_cookie_is_refused_even_when_well_signed():
    huge = signed(json.dumps({"u": "a" * 10_000, "o": NOW, "e": NOW + 10, "c": "t"}).encode())
    assert len(huge) > 10_000
    assert signer.read(huge, NOW) is None
    assert signer.read("A" * 10_240 + "." + "A" * 43, NOW) is None


@pytest.mark.parametrize("body", [b'{"u": "a", "o": 1e400, "e": 1, "c": "t"}', b"[" * 1500 + b"]" * 1500],
                         ids=["an infinite time", "JSON nested 1500 deep"])
def test_a_well_signed_body_that_overflows_or_nests_deep_is_refused_not_raised(body):
    assert len(signed(body)) <= 4096  # under the size limit, so the body is decoded
    assert signer.read(signed(body), NOW) is None


def test_a_session_opened_with_a_token_names_it_and_reads_back():
    cookie, session = signer.open("alice", NOW, token="tok123")
    assert session.token == "tok123"
    assert signer.read(cookie, NOW) == session
    assert signer.read(signer.open("alice", NOW)[0], NOW).token is None  # a password session names none


def test_a_body_that_is_no_object_reads_as_no_session():
    assert signer.read(signed(b"[1, 2, 3]"), NOW) is None


def test_the_bootstrap_fingerprint_changes_with_the_token_and_the_key():
    from engine.access.sessions import fingerprint

    assert fingerprint(KEY, "one") == fingerprint(KEY, "one")
    assert fingerprint(KEY, "one") != fingerprint(KEY, "two")
    assert fingerprint(KEY, "one") != fingerprint(b"q" * 32, "one")
    assert "one" not in fingerprint(KEY, "one")
