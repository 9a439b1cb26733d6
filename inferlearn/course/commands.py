"""The course sub-commands of ``inferlearn``: run, check, progress, workspace, doctor, release, grade.

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
        record_results,
        relative_to,
        run_all,
        write_report,
    )

    if args.jobs < 1:
        raise ValueError(f"-j/--jobs {args.jobs} must be at least 1 (notebooks run at once)")
    if args.record and not args.full:
        raise ValueError("--record needs --full: the prose quotes full-size numbers")
    course = _course(args)
    overrides = dict(parse_parameter(p) for p in args.parameter)
    notebooks = collect(course, [Path(p) for p in args.paths])
    if not notebooks:
        write_report(course, [])
        print(f"no notebooks to run in {course.root}; wrote an empty report")
        return 0
    context = None
    if args.record:
        from inferlearn.course.results import run_context

        context = run_context()  # before the run: the load it started under
    results = run_all(course, notebooks, overrides, args.jobs, args.timeout, args.full)
    json_path, md_path = write_report(course, results)
    for path in record_results(course, results, context) if context is not None else []:
        print(f"recorded {relative_to(path, course.root)}")
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
    """``inferlearn grade``: autograde submissions (sandboxed, in ``--jobs`` workers), feedback,
    grades.csv, the grade plot and the per-test pass rates."""
    import sys
    import time

    from inferlearn.course.grading import Options, grade_course
    from inferlearn.course.reports import write_reports
    from inferlearn.course.sandbox import SandboxUnavailable, require_sandbox

    course = _course(args)
    if args.jobs < 1:
        print(f"error: --jobs {args.jobs}: give 1 or more workers", file=sys.stderr)
        return 2
    try:
        if not args.no_sandbox:
            require_sandbox()
        students = args.students or None
        if args.zip:
            from inferlearn.course.lms import DEFAULT_REGEXP, import_zip

            students = import_zip(course, Path(args.zip), args.zip_regexp or DEFAULT_REGEXP, args.phase)
            print(f"{args.zip}: submissions of {len(students)} student(s) filed under {course.submitted_dir}")
        opts = Options(args.timeout, args.cell_timeout, args.jobs, not args.no_sandbox)
        started = time.monotonic()
        graded = grade_course(course, students, opts=opts)
    except (SandboxUnavailable, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(write_reports(course, graded, opts, time.monotonic() - started))
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
    from inferlearn.course.progress import record_check

    record_check(course, rows)  # workspace/.inferlearn/checks.jsonl, read by `inferlearn progress`
    return 1 if any(r.status == COULD_NOT_GRADE for r in rows) else 0


def progress_command(args: argparse.Namespace) -> int:
    """``inferlearn progress``: points per phase and notebook from your checks, and a plot."""
    import matplotlib

    matplotlib.use("Agg")
    from inferlearn.course.progress import format_progress, plot_progress, progress_table

    course = _course(args)
    table = progress_table(course)
    print(format_progress(table))
    png = Path(args.plot) if args.plot else course.workspace / ".inferlearn" / "progress.png"
    plot_progress(table, png)
    print(f"plot: {png}")
    return 0


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
    run.add_argument("--record", action="store_true",
                     help="with --full: write each notebook's record() values to results/<phase>/<notebook>.json")
    add_root(run)
    run.set_defaults(func=run_command)

    check = sub.add_parser("check", help="grade your own notebooks locally (never changes them)")
    check.add_argument("paths", nargs="*", help="notebooks or folders (default: workspace/)")
    check.add_argument("--cell-timeout", type=float, help="seconds per cell (default 60)")
    add_root(check)
    check.set_defaults(func=check_command)

    progress = sub.add_parser("progress", help="your points per phase and notebook, from your checks")
    progress.add_argument("--plot", help="where to save the plot (default workspace/.inferlearn/progress.png)")
    add_root(progress)
    progress.set_defaults(func=progress_command)

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
                       help="(re)grade only this student, leaving the others as they are (repeatable)")
    grade.add_argument("-j", "--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run submissions WITHOUT the bubblewrap sandbox (only code you trust)")
    grade.add_argument("--zip", help="first file the submissions of this LMS export (nbgrader zip_collect naming)")
    grade.add_argument("--zip-regexp", help="how to read the zip's file names (named groups student_id, file_id)")
    grade.add_argument("--phase", help="the phase the --zip is for (default: found from the notebook names)")
    grade.add_argument("--timeout", type=float, default=900, help="seconds per notebook (default 900)")
    grade.add_argument("--cell-timeout", type=float, help="seconds per cell (default 60)")
    add_root(grade)
    grade.set_defaults(func=grade_command)
