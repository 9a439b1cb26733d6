"""nbgrader configuration for the inferlearn course (nbgrader 0.9.6).

Layout: the repository is the course root and each phase folder (``phase1_llm_api/`` ...) is an
assignment whose source notebooks sit flat in it (nbgrader skips notebooks in sub-folders).
Everything nbgrader writes lives under ``build/course/``:

    build/course/release/<phase>/               what students get (``make release``)
    build/course/submitted/<student>/<phase>/   what they hand in
    build/course/autograded/<student>/<phase>/  executed and scored (``make grade``)
    build/course/feedback/<student>/<phase>/    HTML returned to them
    build/course/gradebook.db                   scores

The settings below each close a leak measured on nbgrader 0.9.6; tests/test_course_grading.py
checks every one of them.

``inferlearn check`` and the tests build private courses elsewhere: their own
``nbgrader_config.py`` loads this file, then moves ``root`` and ``db_url``.
"""

import os

c = get_config()  # noqa: F821  (injected by traitlets when it loads this file)

ROOT = os.path.dirname(os.path.abspath(__file__))
COURSE = "build/course"

# -- where things live ---------------------------------------------------------------------
c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "."
c.CourseDirectory.release_directory = f"{COURSE}/release"
c.CourseDirectory.submitted_directory = f"{COURSE}/submitted"
c.CourseDirectory.autograded_directory = f"{COURSE}/autograded"
c.CourseDirectory.feedback_directory = f"{COURSE}/feedback"
c.CourseDirectory.solution_directory = f"{COURSE}/solution"
c.CourseDirectory.source_with_tests_directory = f"{COURSE}/source_with_tests"
c.CourseDirectory.db_url = f"sqlite:///{ROOT}/{COURSE}/gradebook.db"

# Every file in a phase folder is copied into the release and into every autograded submission:
# keep caches, editor litter and anything secret out of both.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache",
    ".DS_Store", "feedback",
    ".env", ".env.*", "*.env", "*.key", "*.pem", "secrets*", "*secret*", "*.sqlite", "*.db",
]

# -- executing submissions ------------------------------------------------------------------
# A cell gets 60 s, then it is interrupted and recorded as an error (default 30 s is too short
# for a cell that calls the local model; no limit would let one infinite loop stall a batch).
c.Execute.timeout = 60
# Minimal tracebacks: the default "Context" mode prints the source lines around the failing
# assert, which shows the hidden tests' code to the student in their feedback.
c.Execute.extra_arguments = [
    "--HistoryManager.hist_file=:memory:",
    "--InteractiveShell.xmode=Minimal",
]

# A deleted test cell is put back (from the gradebook) and run, instead of being silently
# turned into "needs manual grade" with no automatic score.
c.OverwriteCells.add_missing_cells = True

# Cap what one cell may print into the autograded notebook and the feedback: nbgrader's own
# LimitOutput counts lines only, so one 50 MB line would go through untouched.
# SandboxExecute is nbgrader's Execute, with the kernel in the bubblewrap sandbox when
# `inferlearn grade` asks for it (inferlearn/course/sandbox.py). RedactHiddenTests removes any
# hidden-test line a submission printed (e.g. from IPython's input history) before the outputs
# are capped and saved.
c.Autograde.autograde_preprocessors = [
    "inferlearn.course.sandbox_kernel.SandboxExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "inferlearn.course.sandbox_kernel.RedactHiddenTests",
    "nbgrader.preprocessors.LimitOutput",
    "inferlearn.course.limits.LimitOutputSize",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.LimitOutput.max_lines = 200
c.LimitOutputSize.max_chars = 20_000

# -- feedback -------------------------------------------------------------------------------
# By default feedback HTML is rendered from the autograded notebook, hidden tests and all.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
