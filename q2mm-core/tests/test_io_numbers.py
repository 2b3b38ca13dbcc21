"""One number grammar for every reader: the column readers of force-field files
(``fftext.number``/``integer``) and the token readers of QM and structure files
(``Lines.number``/``integer``) accept and refuse the same tokens, with the same values,
each raising its own ParseError (file and line) for the rest."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from q2mm.errors import ParseError
from q2mm.io import fftext, fortran
from q2mm.io.textlines import Lines

_LINES = Lines("test.txt", ("a line",))


def _outcome(read, token: str):
    """The value read, or None where the reader raised its ParseError."""
    try:
        return read(token)
    except ParseError as exc:
        assert exc.path == "test.txt" and exc.line == 1
        return None


def _both_reals(token: str):
    return (
        _outcome(lambda t: fftext.number(t, "test.txt", 1, "a number"), token),
        _outcome(lambda t: _LINES.number(0, t), token),
    )


def _both_integers(token: str):
    return (
        _outcome(lambda t: fftext.integer(t, "test.txt", 1, "an integer"), token),
        _outcome(lambda t: _LINES.integer(0, t), token),
    )


def _fortran(x: float) -> str:
    """``x`` as a Fortran E format writes it, with a D exponent and no leading zero."""
    mantissa, exponent = f"{x:.6E}".split("E")
    return mantissa.replace("0.", ".", 1) + "D" + exponent


_FORMATS = st.sampled_from(
    [repr, str, "{:.4f}".format, "{:10.4f}".format, "{:e}".format, "{:.3E}".format, "{:g}".format, _fortran]
)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False) | st.floats(-1e3, 1e3)
_FORMATTED = st.builds(lambda x, f: f(x), _FLOATS, _FORMATS)
_INTEGERS = st.builds(
    lambda n, f: f.format(n), st.integers(-(10**12), 10**12), st.sampled_from(["{}", "{:+d}", "{:5d}"])
)
#: Tokens float() or int() would take that no program behind q2mm's files writes, and near-misses.
_TRICKY = st.sampled_from(
    [
        *("inf", "-Infinity", "nan", "NaN", "1_0", "1_000.5", "١", "²", "0x10", "1e999", "1D400", "-1d999"),
        *("", " ", ".", "e5", "1e", "1e+", "--1", "+.e1", "1.5.2", "1,5", "1.0-100", "Ⅻ", "１２"),
    ]
)
_JUNK = st.text(st.sampled_from("0123456789+-.eEdD_ \t xinfa١²"), max_size=8)
_PADDED = st.builds(
    lambda pad, token, tail: pad + token + tail,
    st.sampled_from(["", " ", "  ", "\t"]),
    _FORMATTED | _INTEGERS | _TRICKY | _JUNK,
    st.sampled_from(["", " ", "\u2003"]),
)


@given(_FORMATTED | _INTEGERS | _TRICKY | _JUNK | _PADDED)
@example(" 1.5 ")
@example("-.5")
@example("1.")
@example("1.0D-3")
def test_both_readers_agree_on_reals(token):
    from_columns, from_tokens = _both_reals(token)
    assert from_columns == from_tokens
    assert (from_columns is None) == (_grammar_real(token) is None)


@given(_INTEGERS | _FORMATTED | _TRICKY | _JUNK | _PADDED)
@example("1" * 5000)
def test_both_readers_agree_on_integers(token):
    from_columns, from_tokens = _both_integers(token)
    assert from_columns == from_tokens
    if from_columns is not None:
        assert fortran.is_unsigned(token.strip()) == (token.strip()[0] not in "+-")


@given(_FORMATTED)
@example("1.798E+308")
def test_every_formatted_float_reads_back(token):
    """Rounding may carry a value past the largest float ('1.798E+308'): refused as not finite."""
    expected = float(token.replace("D", "E"))
    assert _both_reals(token)[0] == (expected if math.isfinite(expected) else None)


def _grammar_real(token: str):
    try:
        return fortran.real(token)
    except ValueError:
        return None


@pytest.mark.parametrize("token", ["inf", "nan", "1_0", "١", "0x10", "1e999", "1D400", "", "e5", "1.0-100"])
def test_tokens_python_would_take_or_guess_are_refused(token):
    assert _both_reals(token) == (None, None)
    assert _both_integers(token) == (None, None)


@pytest.mark.parametrize(
    ("token", "value"),
    [("1.5", 1.5), ("-.5", -0.5), ("1.", 1.0), ("1.0D-3", 1e-3), ("+2d2", 200.0), (" 7 ", 7.0)],
)
def test_fortran_reals_are_read(token, value):
    assert _both_reals(token) == (value, value)


@pytest.mark.parametrize("token", ["1D999", "inf", "-Infinity", "NaN"])
def test_a_non_finite_real_is_reported_as_such(token):
    with pytest.raises(ParseError, match=r"a number \(finite\)"):
        _LINES.number(0, token)


@pytest.mark.parametrize("token", ["²", "١", "٦"])
def test_an_element_number_is_ascii_digits(token):
    with pytest.raises(ParseError, match="element symbol or atomic number"):
        _LINES.element(0, token)
