"""The course's command line: `python -m cvcourse {student,grade,doctor}` (also installed as `cvcourse`)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

NOTEBOOKS = "notebooks"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cvcourse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("student", help="regenerate notebooks/ from solutions/, or write a hand-out folder",
                       description="Without --out: regenerate the learner notebooks in notebooks/. With --out DIR: "
                                   "write a hand-out folder for a class (learner notebooks, a wheel of the package "
                                   "at this version, requirements.txt, README.md, handout.json).")
    p.add_argument("--solutions", default="solutions", help="folder of solution notebooks (default: solutions)")
    p.add_argument("--out", help="write a hand-out folder here (must be new or empty) instead of "
                                 "regenerating notebooks/")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook in notebooks/ is out of date")
    p.add_argument("--zip", action="store_true", help="with --out DIR: also write DIR.zip")
    p.add_argument("--force", action="store_true", help="with --out DIR: replace a previous hand-out in DIR")

    p = sub.add_parser("grade", help="execute learners' notebooks and print a score table",
                       description="Run each notebook headless in a fresh kernel and report every exercise with a "
                                   "reason. The exit code is 0 whenever grading finished, whatever the learners "
                                   "scored.")
    p.add_argument("paths", nargs="+", help="notebooks to grade (quoted patterns such as 'subs/*/02_*.ipynb' are "
                                            "expanded too)")
    p.add_argument("--timeout", type=float, default=600,
                   help="seconds the cells of one notebook may run in total (kernel start not counted); a "
                        "notebook still running then is stopped and reported as 'timeout' (default: 600)")
    p.add_argument("--json", dest="json_path", help="also write the results to this JSON file")

    sub.add_parser("doctor", help="print versions and the device; exit 1 if the course cannot run")

    args = parser.parse_args(argv)
    if args.command == "student":
        return _student(parser, args)
    if args.command == "grade":
        if args.timeout <= 0:
            parser.error("--timeout: give a positive number of seconds")
        from .grade import grade

        try:
            grade(args.paths, timeout=args.timeout, json_path=args.json_path)
        except OSError as err:  # e.g. the folder of --json does not exist
            print(f"error: {err}", file=sys.stderr)
            return 1
        return 0
    from .doctor import run

    return run()


def _student(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .student import MarkerError, generate, make_handout

    handout = args.out is not None and Path(args.out).resolve() != Path(NOTEBOOKS).resolve()
    if handout and args.check:
        parser.error("--check compares notebooks/ with solutions/; it does not go with --out DIR")
    if not handout and (args.zip or args.force):
        parser.error("--zip and --force go with --out DIR (a hand-out folder)")
    try:
        if handout:
            manifest = make_handout(args.out, args.solutions, force=args.force, zip_it=args.zip)
        else:
            changed = generate(args.solutions, NOTEBOOKS, check=args.check)
    except (MarkerError, ValueError, RuntimeError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if handout:
        out = Path(args.out)
        print(f"wrote the hand-out {out}/: {len(manifest['notebooks'])} notebook(s), {manifest['wheel']}, "
              f"requirements.txt, README.md, handout.json (cvcourse {manifest['version']})")
        if args.zip:
            print(f"wrote {out.with_name(out.name + '.zip')}")
        return 0
    if args.check:
        for path in changed:
            print(f"out of date: {path} (run `python -m cvcourse student`)")
        return 1 if changed else 0
    print(f"wrote {len(changed)} notebook(s)" + "".join(f"\n  {p}" for p in changed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
