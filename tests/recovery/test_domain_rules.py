"""The pure rules of backup codes and mailed one-time codes, without an app: what a typed code
may look like, what it must never match."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from recovery import codes, otp

KEY = "test-secret-key-not-for-production"


# ---- backup codes --------------------------------------------------------------------------


def test_a_backup_code_is_twenty_four_symbols_of_the_alphabet_in_groups_of_four():
    code = codes.generate()
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){5}", code)
    assert set(code.replace("-", "")) <= set(codes.ALPHABET)
    assert codes.normalise(code) == code.replace("-", "")
    assert len({codes.generate() for _ in range(20)}) == 20


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("k7qm-3wxd-0000-1111-abcd", "K7QM3WXD00001111ABCD"),
        (" K7QM 3WXD\t0000 1111 ABCD ", "K7QM3WXD00001111ABCD"),
        ("K7QM-3WXD-OOOO-IL11-ABCD", "K7QM3WXD00001111ABCD"),  # O → 0, I and L → 1
    ],
)
def test_typed_backup_codes_are_forgiving(typed, canonical):
    assert codes.normalise(typed) == canonical


@pytest.mark.parametrize(
    "typed",
    [
        "K7QM-3WXD-0000-1111-ABC",  # 19 symbols
        "K7QM-3WXD-0000-1111-ABCDE",  # 21
        "K7QM-3WXD-0000-1111-ABCU",  # U is not in the alphabet
        "K7QM-3WXD-0000-1111-ABC!",
        "",
    ],
)
def test_anything_else_is_not_a_backup_code(typed):
    assert codes.normalise(typed) is None
    with pytest.raises(ValueError):
        codes.hash_code(KEY, typed)


def test_a_backup_code_matches_only_itself_under_its_key():
    code = codes.generate()
    stored = codes.hash_code(KEY, code)
    assert codes.matches(KEY, code, stored)
    assert codes.matches(KEY, code.lower().replace("-", " "), stored)
    assert not codes.matches(KEY, codes.generate(), stored)
    assert not codes.matches("another-key", code, stored)
    assert not codes.matches(KEY, code, None)
    assert codes.hash_code(KEY, code) == codes.hash_code(KEY, code.lower())


def test_malformed_input_never_matches_even_the_code_it_is_hashed_as():
    """Malformed input is hashed as twenty zeros (the same work as a real comparison); an ID
    whose code happens to be all zeros must still not accept garbage."""
    zeros = codes.hash_code(KEY, "0" * codes.LENGTH)
    assert codes.matches(KEY, "0" * codes.LENGTH, zeros)
    assert not codes.matches(KEY, "not a code", zeros)


# ---- mailed one-time codes -----------------------------------------------------------------


def test_a_mailed_code_has_the_configured_digits_and_expires_after_its_ttl():
    assert re.fullmatch(r"\d{8}", otp.generate(8))
    assert re.fullmatch(r"\d{6}", otp.generate(6))
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert otp.OtpPolicy(digits=8, ttl=600).expiry(now) == now + timedelta(seconds=600)


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [("12345678", "12345678"), (" 1234 5678 ", "12345678"), ("1234-5678", "12345678")],
)
def test_typed_mailed_codes_ignore_spaces_and_dashes(typed, canonical):
    assert otp.normalise(typed, 8) == canonical


@pytest.mark.parametrize(
    "typed",
    ["1234567", "123456789", "1234567a", "١٢٣٤٥٦٧٨", "１２３４５６７８", ""],
)
def test_anything_else_is_not_a_mailed_code(typed):
    assert otp.normalise(typed, 8) is None


def test_a_mailed_code_matches_only_itself():
    stored = otp.hash_code(KEY, "12345678")
    assert otp.matches(KEY, "1234 5678", 8, stored)
    assert not otp.matches(KEY, "12345679", 8, stored)
    assert not otp.matches(KEY, "12345678", 6, stored)
    assert not otp.matches("another-key", "12345678", 8, stored)


def test_malformed_input_never_matches_the_hash_it_is_compared_with():
    """Malformed input is hashed as "x" (the same work as a real comparison)."""
    assert not otp.matches(KEY, "not a code", 8, otp.hash_code(KEY, "x"))


def test_a_masked_address_shows_one_letter_and_the_domain():
    assert otp.mask_email("jane@example.com") == "j***@example.com"
