"""Running, checking and grading the course notebooks.

- ``runner``: ``inferlearn run``, papermill with CI-sized parameters and a report
- ``release``: ``inferlearn release``, nbgrader's student version of every phase
- ``grading``: ``inferlearn grade``, autograde notebook by notebook, feedback, grades.csv, a plot
- ``workspace``: ``inferlearn workspace``, the learner's copies, never overwritten
- ``check``: ``inferlearn check``, a learner's private autograde and score table
- ``doctor``: ``inferlearn doctor``, set-up checks that each print their fix
- ``nbg``, ``scores``, ``layout``, ``limits``: nbgrader processes, gradebook reads, paths,
  the output-size cap that ``nbgrader_config.py`` adds
"""
