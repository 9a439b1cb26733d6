"""Benchmark ``inferlearn grade``: sequential against ``--jobs 2``, and the sandbox's overhead.

N students each hand in every notebook of one phase (default: the fixture phase, answered as in
the source), in a private course under ``build/bench/grading-course``. Three runs grade the same
submissions: sequential unsandboxed, sequential sandboxed, ``--jobs 2`` sandboxed. Writes JSON
(default ``build/bench/grading.json``) with the wall times, the speed-up of ``--jobs 2`` and the
sandbox overhead per notebook, and whether all runs gave identical grades. The sequential runs
come one after the other, so their difference also holds whatever changed in between (caches,
load): ``sandbox_overhead_paired`` grades one notebook bare and sandboxed in alternation
(``--pairs``) and compares the medians. Issue 14's goals:
speed-up >= 1.7 on 2 cores, overhead <= 10% of a sequential grade. Numbers depend on the load of
the machine: the JSON records the load average before and after.

    python benchmarks/bench_grading.py [--out PATH] [--submissions 20] [--jobs 2] [--phase DIR]
        [--pairs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from _common import write_json

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def build_course(dest: Path, phase_dir: Path, submissions: int):
    """A private course with ``submissions`` students answering every notebook as the source."""
    from fixtures.course.submissions import fill_solutions, load, submit

    from inferlearn.course.nbg import make_private_course
    from inferlearn.course.release import release_course

    shutil.rmtree(dest, ignore_errors=True)
    course = make_private_course(dest, [phase_dir], REPO / "nbgrader_config.py")
    release_course(course, log=lambda *_: None)
    for index in range(submissions):
        for source in course.phase_notebooks(phase_dir.name):
            release = load(course.release_dir / phase_dir.name / source.name)
            submit(course.submitted_dir, f"s{index:03d}", phase_dir.name, source.name,
                   fill_solutions(release, load(source)))
    return course


def timed_run(course, jobs: int, use_sandbox: bool) -> tuple[float, list]:
    """Grade everything once; wall seconds and the grades."""
    from inferlearn.course.grading import Options, grade_course

    for folder in (course.autograded_dir, course.feedback_dir):
        shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    rows = grade_course(course, opts=Options(timeout=600, cell_timeout=60, jobs=jobs, sandbox=use_sandbox),
                        log=lambda *_: None)
    seconds = time.perf_counter() - started
    return seconds, sorted((r.student, r.notebook, r.score, r.status) for r in rows)


def paired_overhead(course, phase: str, pairs: int) -> dict:
    """One notebook autograded ``pairs`` times bare and sandboxed, alternating, so load and warm
    caches fall on both alike; the median of each and the sandbox's share over bare."""
    import statistics
    import tempfile

    from inferlearn.course.nbg import autograde_notebook
    from inferlearn.course.sandbox import Spec

    notebook = course.phase_notebooks(phase)[0]
    times: dict[str, list[float]] = {"bare": [], "sandbox": []}
    with tempfile.TemporaryDirectory(prefix="ilsb-run-") as run_dir:
        for _ in range(pairs):
            for name, spec in (("bare", None), ("sandbox", Spec(run_dir=run_dir).to_env())):
                started = time.perf_counter()
                result = autograde_notebook(course, phase, "s000", notebook.stem, 600, 60, None, spec)
                if not result.ok:
                    raise RuntimeError(f"autograde failed ({name}): {result.reason(600)}")
                times[name].append(time.perf_counter() - started)
    bare, boxed = statistics.median(times["bare"]), statistics.median(times["sandbox"])
    return {"notebook": f"{phase}/{notebook.name}", "pairs": pairs, "median_bare_s": round(bare, 3),
            "median_sandbox_s": round(boxed, 3), "overhead_share": round((boxed - bare) / bare, 3)}


def main(argv: list[str] | None = None) -> int:
    """Run the three gradings and write the JSON."""
    from fixtures.course.submissions import FIXTURE_PHASE

    from inferlearn.course.sandbox import probe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "build" / "bench" / "grading.json"))
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=10, help="alternating bare/sandboxed grades of one notebook")
    parser.add_argument("--phase", default=str(FIXTURE_PHASE), help="phase folder (default: the fixture phase)")
    args = parser.parse_args(argv)
    ok, detail = probe()
    if not ok:
        print(f"error: the sandbox does not work here: {detail}", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    course = build_course(REPO / "build" / "bench" / "grading-course", Path(args.phase), args.submissions)
    notebooks = args.submissions * len(course.phase_notebooks(Path(args.phase).name))
    runs = {}
    for name, jobs, use_sandbox in (("sequential_no_sandbox", 1, False), ("sequential_sandbox", 1, True),
                                    (f"jobs{args.jobs}_sandbox", args.jobs, True)):
        seconds, grades = timed_run(course, jobs, use_sandbox)
        runs[name] = {"jobs": jobs, "sandbox": use_sandbox, "seconds": round(seconds, 1),
                      "seconds_per_notebook": round(seconds / notebooks, 2), "grades": grades}
        print(f"{name}: {seconds:.1f} s for {notebooks} notebooks", flush=True)
    paired = paired_overhead(course, Path(args.phase).name, args.pairs)
    seq, par, bare = runs["sequential_sandbox"], runs[f"jobs{args.jobs}_sandbox"], runs["sequential_no_sandbox"]
    result = {
        "benchmark": "grading", "phase": Path(args.phase).name, "submissions": args.submissions,
        "notebooks": notebooks, "cpu_count": os.cpu_count(), "platform": platform.platform(),
        "sandbox": detail, "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "note": "measured on a shared machine under load unless the load averages say otherwise",
        "speedup_jobs": round(seq["seconds"] / par["seconds"], 2),
        "sandbox_overhead_share": round((seq["seconds"] - bare["seconds"]) / bare["seconds"], 3),
        "identical_grades": seq["grades"] == par["grades"] == bare["grades"],
        "sandbox_overhead_paired": paired,
        "runs": {name: {k: v for k, v in run.items() if k != "grades"} for name, run in runs.items()},
    }
    write_json(result, args.out)
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    return 0 if result["identical_grades"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
