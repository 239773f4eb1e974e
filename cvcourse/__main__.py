"""The course's command line: `python -m cvcourse {student,grade,doctor}` (also installed as `cvcourse`)."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cvcourse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("student", help="regenerate the learners' notebooks from solutions/")
    p.add_argument("--solutions", default="solutions", help="folder of solution notebooks (default: solutions)")
    p.add_argument("--out", default="notebooks", help="folder for the learner notebooks (default: notebooks)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a learner notebook is out of date")

    p = sub.add_parser("grade", help="execute learners' notebooks and print a score table")
    p.add_argument("paths", nargs="+", help="notebooks to grade")
    p.add_argument("--timeout", type=float, default=600, help="seconds one cell may run (default: 600)")
    p.add_argument("--json", dest="json_path", help="also write the results to this JSON file")

    sub.add_parser("doctor", help="print versions and the device; exit 1 if the course cannot run")

    args = parser.parse_args(argv)
    if args.command == "student":
        from .student import MarkerError, generate

        try:
            changed = generate(args.solutions, args.out, check=args.check)
        except (MarkerError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        if args.check:
            for path in changed:
                print(f"out of date: {path} (run `python -m cvcourse student`)")
            return 1 if changed else 0
        print(f"wrote {len(changed)} notebook(s)" + "".join(f"\n  {p}" for p in changed))
        return 0
    if args.command == "grade":
        from .grade import grade

        grade(args.paths, timeout=args.timeout, json_path=args.json_path)
        return 0
    from .doctor import run

    return run()


if __name__ == "__main__":
    sys.exit(main())
