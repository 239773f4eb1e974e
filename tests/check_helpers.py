"""Assertions shared by the tests of the chapters' exercise checks (tests/test_checks_*.py)."""


def assert_fails_naming_the_case(check, wrong, case, detail, capsys):
    """`check(wrong)` fails, its message names `case` and contains `detail`, and the printed verdict
    is a [FAIL] line followed by the indented case."""
    result = check(wrong)
    assert result.status == "failed" and not result
    assert case in result.message.splitlines()[0] and detail in result.message, result.message
    printed = capsys.readouterr().out
    assert printed.startswith(f"[FAIL] Exercise {check.spec.id} ({check.spec.title}): failed (")
    assert "    case: " in printed and case in printed
