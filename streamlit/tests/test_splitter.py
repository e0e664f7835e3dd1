"""Unit tests of the statement splitter (no server needed)."""

from __future__ import annotations

import pytest

from starsync_gui.splitter import SplitError, split_statements


def texts(script: str) -> list[str]:
    return [s.text for s in split_statements(script)]


def test_plain_statements_and_trailing_delimiter():
    assert texts("SELECT 1; SELECT 2;") == ["SELECT 1", "SELECT 2"]
    assert texts("SELECT 1") == ["SELECT 1"]
    assert texts("  ;;  ; ") == []
    assert texts("") == []


@pytest.mark.parametrize(
    "script,expected",
    [
        ("SELECT 'a;b'; SELECT 2", ["SELECT 'a;b'", "SELECT 2"]),
        ('SELECT "a;b"; SELECT 2', ['SELECT "a;b"', "SELECT 2"]),
        ("SELECT `a;b` FROM t; SELECT 2", ["SELECT `a;b` FROM t", "SELECT 2"]),
        ("SELECT 'it''s;'; SELECT 2", ["SELECT 'it''s;'", "SELECT 2"]),
        ("SELECT 'back\\';slash'; SELECT 2", ["SELECT 'back\\';slash'", "SELECT 2"]),
        ("SELECT `a``;b`; SELECT 2", ["SELECT `a``;b`", "SELECT 2"]),
        ("SELECT 1 -- not; split\n; SELECT 2", ["SELECT 1 -- not; split", "SELECT 2"]),
        ("SELECT 1 # not; split\n; SELECT 2", ["SELECT 1 # not; split", "SELECT 2"]),
        ("SELECT /* a; b */ 1; SELECT 2", ["SELECT /* a; b */ 1", "SELECT 2"]),
        ("SELECT 5--1; SELECT 2", ["SELECT 5--1", "SELECT 2"]),  # "--" without a space is minus minus
        ("SELECT 1 /*! , 2 */; SELECT 3", ["SELECT 1 /*! , 2 */", "SELECT 3"]),
    ],
)
def test_quotes_and_comments_are_respected(script, expected):
    assert texts(script) == expected


def test_comment_only_pieces_are_dropped_but_executable_comments_kept():
    assert texts("-- just a comment\n# another\n/* and a block */;") == []
    assert texts("/*!40101 SET NAMES utf8mb4 */;") == ["/*!40101 SET NAMES utf8mb4 */"]
    assert texts("SELECT 1;\n-- trailing comment") == ["SELECT 1"]


def test_line_numbers_point_at_the_first_line_of_each_statement():
    stmts = split_statements("SELECT 1;\n\n  SELECT\n 'x\ny';\nSELECT 3")
    assert [(s.text, s.line) for s in stmts] == [
        ("SELECT 1", 1),
        ("SELECT\n 'x\ny'", 3),
        ("SELECT 3", 6),
    ]


def test_delimiter_command_for_compound_statements():
    script = "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END//\nDELIMITER ;\nCALL p();\n"
    assert texts(script) == ["CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", "CALL p()"]


def test_delimiter_word_inside_a_statement_is_not_a_command():
    assert texts("SELECT 'DELIMITER //' AS x; SELECT delimiter FROM t") == [
        "SELECT 'DELIMITER //' AS x",
        "SELECT delimiter FROM t",
    ]


@pytest.mark.parametrize(
    "script,message",
    [
        ("SELECT 'open", "line 1: ' is never closed"),
        ('SELECT 1;\nSELECT "open', 'line 2: " is never closed'),
        ("SELECT `open", "line 1: ` is never closed"),
        ("SELECT 1 /* open", "line 1: comment /* is never closed"),
        ("DELIMITER \nSELECT 1", "line 1: DELIMITER needs a delimiter"),
    ],
)
def test_unterminated_input_is_an_error(script, message):
    with pytest.raises(SplitError) as e:
        split_statements(script)
    assert str(e.value) == message
