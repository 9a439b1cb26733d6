"""The course sub-commands of ``inferlearn``: run, check, workspace, doctor, release, grade.

Each handler takes the parsed arguments and returns an exit code; heavy imports happen inside
them so ``inferlearn --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _course(args: argparse.Namespace):
    from inferlearn.course.layout import course_at

    return course_at(args.root)


def run_command(args: argparse.Namespace) -> int:
    """``inferlearn run``: execute notebooks with papermill, write the report."""
    from inferlearn.course.runner import (
        collect,
        parse_parameter,
        relative_to,
        run_all,
        write_report,
    )

    if args.jobs < 1:
        raise ValueError(f"-j/--jobs {args.jobs} must be at least 1 (notebooks run at once)")
    course = _course(args)
    overrides = dict(parse_parameter(p) for p in args.parameter)
    notebooks = collect(course, [Path(p) for p in args.paths])
    if not notebooks:
        write_report(course, [])
        print(f"no notebooks to run in {course.root}; wrote an empty report")
        return 0
    results = run_all(course, notebooks, overrides, args.jobs, args.timeout, args.full)
    json_path, md_path = write_report(course, results)
    failed = [r for r in results if r.status != "ok"]
    for r in results:
        where = "" if r.status == "ok" else f"  cell {r.failing_cell}: {r.error}"
        print(f"{r.status:<6} {r.seconds:6.1f} s  {relative_to(Path(r.notebook), course.root)}{where}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed; report: {md_path} and {json_path.name}")
    return 1 if failed else 0


def release_command(args: argparse.Namespace) -> int:
    """``inferlearn release``: nbgrader generate_assignment for every phase."""
    from inferlearn.course.release import release_course

    course = _course(args)
    built = release_course(course, args.phases or None)
    if built:
        print(f"student release in {course.release_dir}")
    return 0


def grade_command(args: argparse.Namespace) -> int:
    """``inferlearn grade``: autograde submissions, feedback, grades.csv and a plot."""
    from inferlearn.course.grading import (
        format_rows,
        grade_course,
        plot_distribution,
        write_grades_csv,
    )
    from inferlearn.course.scores import COULD_NOT_GRADE

    course = _course(args)
    rows = grade_course(course, args.students or None, args.timeout, args.cell_timeout)
    csv_path = write_grades_csv(rows, course.course_dir / "grades.csv")
    png_path = plot_distribution(rows, course.course_dir / "grades.png")
    print(format_rows(rows))
    bad = [r for r in rows if r.status == COULD_NOT_GRADE]
    if bad:
        print(f"\n{len(bad)} notebook(s) could not be graded: see the detail column and logs in "
              f"{course.build / 'logs' / 'autograde'}")
    print(f"grades: {csv_path}\nplot: {png_path}\nfeedback: {course.feedback_dir}")
    return 0


def workspace_command(args: argparse.Namespace) -> int:
    """``inferlearn workspace``: copy the release into ``workspace/``, never overwriting."""
    from inferlearn.course.workspace import build_workspace

    build_workspace(_course(args))
    return 0


def check_command(args: argparse.Namespace) -> int:
    """``inferlearn check``: grade the learner's notebooks privately and print the table."""
    from inferlearn.course.check import check_notebooks, format_check
    from inferlearn.course.scores import COULD_NOT_GRADE

    course = _course(args)
    print("checking your notebooks (each runs in a fresh kernel; this takes a few seconds each) ...",
          flush=True)
    rows = check_notebooks(course, [Path(p) for p in args.paths] or None, args.cell_timeout)
    print(format_check(rows))
    return 1 if any(r.status == COULD_NOT_GRADE for r in rows) else 0


def doctor_command(args: argparse.Namespace) -> int:
    """``inferlearn doctor``: check the machine, print a fix for each failure."""
    from inferlearn.course.doctor import CHECKS, format_results, run_checks

    unknown = [name for name in args.skip if name not in CHECKS]
    if unknown:
        raise ValueError(f"--skip {unknown[0]!r} is not a check; the checks are {', '.join(CHECKS)}")
    if args.fix:
        from inferlearn.server.modelfiles import install_models

        install_models()
    results = run_checks(tuple(args.skip))
    print(format_results(results))
    return 0 if all(r.ok for r in results) else 1


def add_root(parser: argparse.ArgumentParser) -> None:
    """``--root``: the course folder (default: found from the current folder)."""
    parser.add_argument("--root", help="course folder (default: the checkout around the current folder)")


def register(sub) -> None:
    """Add the course sub-commands to the ``inferlearn`` command."""
    run = sub.add_parser("run", help="execute notebooks headlessly (papermill) and write a report")
    run.add_argument("paths", nargs="*", help="notebooks or folders (default: every source notebook)")
    run.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                     help="override a parameters-cell value (repeatable)")
    run.add_argument("-j", "--jobs", type=int, default=1, help="notebooks run at once (default 1)")
    run.add_argument("--timeout", type=float, default=600, help="seconds per cell (default 600)")
    run.add_argument("--full", action="store_true",
                     help="the notebooks' own (full-size) parameters, not their CI-sized ones")
    add_root(run)
    run.set_defaults(func=run_command)

    check = sub.add_parser("check", help="grade your own notebooks locally (never changes them)")
    check.add_argument("paths", nargs="*", help="notebooks or folders (default: workspace/)")
    check.add_argument("--cell-timeout", type=float, help="seconds per cell (default 60)")
    add_root(check)
    check.set_defaults(func=check_command)

    workspace = sub.add_parser("workspace", help="copy the course notebooks into workspace/ (never overwrites)")
    add_root(workspace)
    workspace.set_defaults(func=workspace_command)

    doctor = sub.add_parser("doctor", help="check Python, packages, backend, model files, chromadb, disk")
    doctor.add_argument("--skip", action="append", default=[], metavar="CHECK",
                        help="skip a check by name (e.g. --skip backend)")
    doctor.add_argument("--fix", action="store_true",
                        help="first install or repair the model files (inferlearn models install)")
    doctor.set_defaults(func=doctor_command)

    release = sub.add_parser("release", help="instructors: build the student release of each phase")
    release.add_argument("phases", nargs="*", help="phase folders (default: all with notebooks)")
    add_root(release)
    release.set_defaults(func=release_command)

    grade = sub.add_parser("grade", help="instructors: autograde build/course/submitted, export grades")
    grade.add_argument("--student", dest="students", action="append", default=[],
                       help="grade only this student (repeatable)")
    grade.add_argument("--timeout", type=float, default=900, help="seconds per notebook (default 900)")
    grade.add_argument("--cell-timeout", type=float, help="seconds per cell (default 60)")
    add_root(grade)
    grade.set_defaults(func=grade_command)
