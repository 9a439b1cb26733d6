"""inferlearn: the library behind the inferlearn course notebooks.

Areas: ``inferlearn.llm`` (clients, the local server, tokens, costs), ``inferlearn.rag``,
``inferlearn.evals``, ``inferlearn.prod`` and ``inferlearn.course`` (running and grading notebooks).
"""

__version__ = "0.1.0"
