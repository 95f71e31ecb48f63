"""The member CSV parser: the console's format and everything people's spreadsheets do to it."""

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.csvimport import MAX_ROWS, parse_member_csv

GOOD = "123456789012,root@example.com"


def test_console_format_with_header_is_read():
    preview = parse_member_csv(b"Account ID,Email\n123456789012,root@example.com\n210987654321,b@example.org\n")
    assert [(line.line, line.account_id, line.email, line.valid) for line in preview.lines] == [
        (2, "123456789012", "root@example.com", True),
        (3, "210987654321", "b@example.org", True),
    ]


def test_header_is_optional():
    preview = parse_member_csv(GOOD.encode())
    assert [line.account_id for line in preview.valid_lines] == ["123456789012"]


def test_bom_crlf_spaces_and_blank_lines_are_accepted():
    data = "\ufeffAccount ID , Email\r\n\r\n  123456789012 ,  root@example.com  \r\n   \r\n210987654321,b@example.org\r\n"
    preview = parse_member_csv(data.encode("utf-8"))
    assert preview.problem == ""
    assert [(line.line, line.account_id, line.email) for line in preview.valid_lines] == [
        (3, "123456789012", "root@example.com"),
        (5, "210987654321", "b@example.org"),
    ]
    assert preview.invalid_lines == []


def test_each_bad_line_says_why():
    data = "\n".join(
        [
            "12345678901,short@example.com",
            "12345678901a,letters@example.com",
            "123456789012,not-an-email",
            "123456789013," + "a" * 60 + "@example.com",
            "123456789014,",
            "123456789015,ok@example.com",
            "123456789015,again@example.com",
            "999999999999,member@example.com",
        ]
    ).encode()
    preview = parse_member_csv(data, existing={"999999999999"})
    errors = {line.line: line.error for line in preview.invalid_lines}
    assert "exactly 12 digits" in errors[1]
    assert "exactly 12 digits" in errors[2]
    assert "not a valid email" in errors[3]
    assert "at most 64" in errors[4]
    assert "email is missing" in errors[5]
    assert "Duplicate in the file" in errors[7] and "line 6" in errors[7]
    assert "already a member" in errors[8]
    assert [line.line for line in preview.valid_lines] == [6]


def test_too_many_rows_is_refused_with_the_limit():
    data = "\n".join(f"{100000000000 + i},a{i}@example.com" for i in range(11)).encode()
    preview = parse_member_csv(data, max_rows=10)
    assert preview.lines == () and "more than 10 accounts" in preview.problem


def test_too_large_a_file_is_refused_with_the_limit():
    preview = parse_member_csv(b"x" * 101, max_bytes=100)
    assert "101 bytes" in preview.problem and "100 bytes" in preview.problem


def test_binary_file_is_refused():
    preview = parse_member_csv(b"\xff\xfe\x00\x01garbage")
    assert "not UTF-8" in preview.problem


def test_empty_file_is_refused():
    assert parse_member_csv(b"\r\n \n").problem == "The file has no account lines."


account_ids = st.text(alphabet=string.digits, min_size=12, max_size=12)
local_parts = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=20)
emails = st.builds(lambda local, domain: f"{local}@{domain}.example.com", local_parts, local_parts)
rows = st.lists(st.tuples(account_ids, emails), min_size=1, max_size=40, unique_by=lambda row: row[0])


@given(rows=rows, header=st.booleans(), crlf=st.booleans(), bom=st.booleans(), pad=st.sampled_from(["", " ", "  "]))
@settings(max_examples=150, deadline=None)
def test_any_well_formed_file_yields_exactly_its_rows(rows, header, crlf, bom, pad):
    newline = "\r\n" if crlf else "\n"
    lines = (["Account ID,Email"] if header else []) + [f"{pad}{a}{pad},{pad}{e}{pad}" for a, e in rows]
    text = ("\ufeff" if bom else "") + newline.join(lines) + newline
    preview = parse_member_csv(text.encode())
    assert preview.problem == ""
    assert [(line.account_id, line.email) for line in preview.valid_lines] == rows


@given(rows=rows, blanks=st.lists(st.integers(min_value=0, max_value=40), max_size=5))
@settings(max_examples=100, deadline=None)
def test_blank_lines_change_nothing_but_line_numbers(rows, blanks):
    lines = [f"{a},{e}" for a, e in rows]
    for index in sorted(blanks, reverse=True):
        lines.insert(min(index, len(lines)), "")
    preview = parse_member_csv("\n".join(lines).encode())
    assert [(line.account_id, line.email) for line in preview.lines] == rows
    numbers = [line.line for line in preview.lines]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


@given(data=st.binary(max_size=2000))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_crash_and_every_line_is_judged(data):
    preview = parse_member_csv(data, existing={"123456789012"})
    if preview.problem:
        assert preview.lines == ()
    for line in preview.lines:
        assert line.line >= 1
        if line.valid:
            assert len(line.account_id) == 12 and line.account_id.isdigit()
            assert 0 < len(line.email) <= 64 and "@" in line.email
            assert line.account_id != "123456789012"
    valid_ids = [line.account_id for line in preview.valid_lines]
    assert len(valid_ids) == len(set(valid_ids))
    assert len(preview.lines) <= MAX_ROWS


@given(rows=rows, dupes=st.integers(min_value=1, max_value=3))
@settings(max_examples=80, deadline=None)
def test_duplicates_keep_the_first_and_flag_the_rest(rows, dupes):
    repeated = rows + rows[:dupes]
    preview = parse_member_csv("\n".join(f"{a},{e}" for a, e in repeated).encode())
    assert [(line.account_id, line.email) for line in preview.valid_lines] == rows
    assert len(preview.invalid_lines) == min(dupes, len(rows))
    assert all("Duplicate in the file" in line.error for line in preview.invalid_lines)


def test_account_ids_in_the_consoles_dashed_form_are_read_as_their_digits():
    preview = parse_member_csv(b"4444-5555-6666,a@example.com\n1111 2222 3333,b@example.com\n")
    assert [(line.account_id, line.error) for line in preview.lines] == [
        ("444455556666", ""), ("111122223333", "")
    ]
