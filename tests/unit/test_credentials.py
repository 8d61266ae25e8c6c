"""Passwords (argon2id) and API tokens (kbt_<id>_<secret>, only the secret's SHA-256 stored)."""

from __future__ import annotations

import hashlib
import re

import pytest

from engine.access.credentials import (
    DUMMY_HASH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    TOKEN_PREFIX,
    WeakPassword,
    hash_password,
    new_token,
    parse_token,
    password_matches,
    same_secret,
    secret_digest,
)

PASSWORD = "correct horse battery staple"


def test_a_password_hash_round_trips_and_is_argon2id():
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert password_matches(PASSWORD, stored)


@pytest.mark.parametrize("wrong", ["", "correct horse battery stapl", "Correct horse battery staple",
                                   PASSWORD + " ", PASSWORD + "\x00", "x" * MAX_PASSWORD_LENGTH])
def test_a_wrong_password_does_not_match(wrong):
    assert not password_matches(wrong, hash_password(PASSWORD))


def test_two_hashes_of_one_password_differ_and_never_contain_it():
    # salted: equal passwords must not be visible as equal hashes in the access log
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second
    for stored in (first, second):
        assert PASSWORD not in stored
        assert "horse" not in stored


@pytest.mark.parametrize("stored", [None, "", "not a hash", "$argon2id$", DUMMY_HASH[:-4], "$2b$12$" + "a" * 53])
def test_no_stored_hash_or_a_malformed_one_matches_nothing_and_does_not_raise(stored):
    assert not password_matches(PASSWORD, stored)


def test_the_dummy_hash_is_a_real_hash_no_password_matches():
    # checked for unknown users so a miss costs a real verification: it must be argon2id, and not match
    assert DUMMY_HASH.startswith("$argon2id$")
    assert not password_matches(PASSWORD, DUMMY_HASH)


@pytest.mark.parametrize("password", ["", "a", "x" * (MIN_PASSWORD_LENGTH - 1)])
def test_a_too_short_password_is_refused(password):
    with pytest.raises(WeakPassword, match=f"at least {MIN_PASSWORD_LENGTH} characters"):
        hash_password(password)


@pytest.mark.parametrize("length", [MAX_PASSWORD_LENGTH + 1, 1024 * 1024])
def test_a_too_long_password_is_refused(length):
    # a megabyte "password" would only be a CPU sink for argon2
    with pytest.raises(WeakPassword, match=f"at most {MAX_PASSWORD_LENGTH} characters"):
        hash_password("x" * length)


def test_a_too_long_password_never_matches_not_even_a_hash_of_its_prefix():
    stored = hash_password("x" * MAX_PASSWORD_LENGTH)
    assert password_matches("x" * MAX_PASSWORD_LENGTH, stored)
    assert not password_matches("x" * (MAX_PASSWORD_LENGTH + 1), stored)
    assert not password_matches("x" * (1024 * 1024), stored)


def test_the_length_limits_are_inclusive():
    assert password_matches("p" * MIN_PASSWORD_LENGTH, hash_password("p" * MIN_PASSWORD_LENGTH))


def test_a_unicode_password_round_trips():
    password = "pässwörd-\u6f22\u5b57-\U0001f511"
    assert password_matches(password, hash_password(password))
    assert not password_matches(password.replace("\u00e4", "a"), hash_password(password))


# -- tokens ---------------------------------------------------------------------------------------------------


def test_a_new_token_is_prefix_id_and_secret():
    made = new_token()
    assert re.fullmatch(r"kbt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", made.token)
    assert made.token.startswith(TOKEN_PREFIX + made.token_id + "_")


def test_a_token_parses_to_its_id_and_the_stored_digest():
    made = new_token()
    assert parse_token(made.token) == (made.token_id, made.secret_hash)
    secret = made.token.removeprefix(f"{TOKEN_PREFIX}{made.token_id}_")
    assert made.secret_hash == secret_digest(secret) == hashlib.sha256(secret.encode()).hexdigest()


def test_the_stored_hash_does_not_contain_the_secret():
    made = new_token()
    secret = made.token.removeprefix(f"{TOKEN_PREFIX}{made.token_id}_")  # may itself hold "_"
    assert secret not in made.secret_hash
    assert made.secret_hash != secret


def test_two_tokens_differ_in_id_secret_and_digest():
    first, second = new_token(), new_token()
    assert first.token_id != second.token_id
    assert first.token != second.token
    assert first.secret_hash != second.secret_hash


VALID = f"kbt_{'0123456789abcdef'}_{'A' * 43}"


@pytest.mark.parametrize("token", [
    "",
    "kbt_",
    "kbt__",
    VALID.replace("kbt_", "kbx_"),
    VALID.replace("kbt_", "KBT_"),
    VALID.removeprefix("kbt_"),
    "Bearer " + VALID,
    VALID + "A",
    VALID + "\n",
    " " + VALID,
    VALID + "\x00",
    VALID[:-1],
    VALID.replace("0123456789abcdef", "0123456789ABCDEF"),  # the id is lower-case hex
    VALID.replace("0123456789abcdef", "0123456789abcdeg"),
    VALID.replace("0123456789abcdef", "0123456789abcde"),
    VALID.replace("_A", "-A", 1),
    VALID[:-1] + "=",  # base64 padding is not part of a token_urlsafe secret
    VALID[:-1] + "+",
    VALID[:-1] + "\u00c5",  # a letter, but not an ASCII one
    VALID.replace("0", "\u0660"),  # ARABIC-INDIC DIGIT ZERO: a digit to \d, not to [0-9]
    VALID.replace("a", "\uff41"),  # FULLWIDTH a
    VALID + "_" + "A" * 43,
    "kbt_" + "0" * 16 + "_" + "A" * 10_000,
], ids=lambda t: repr(t[:40]) + f"...({len(t)})")
def test_anything_not_shaped_as_a_token_parses_to_none(token):
    assert parse_token(token) is None


def test_a_10_kb_string_of_token_characters_parses_to_none():
    assert parse_token("kbt_" * 2560) is None
    assert parse_token("a" * 10_240) is None


def test_the_well_formed_reference_token_parses():
    # the hostile variants above are refused because of what changed, not because VALID is itself refused
    assert parse_token(VALID) == ("0123456789abcdef", secret_digest("A" * 43))


def test_same_secret_compares_exactly():
    digest = secret_digest("s")
    assert same_secret(digest, digest)
    assert not same_secret(digest, digest.upper())
    assert not same_secret(digest, digest[:-1])
    assert not same_secret("", digest)
    assert same_secret("\u00e9", "\u00e9")  # non-ASCII does not raise (compare_digest on str would)
