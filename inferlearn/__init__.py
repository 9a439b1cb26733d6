"""inferlearn: the library behind the inferlearn course notebooks.

Areas: ``inferlearn.llm`` (what a notebook's client needs: clients, tokens, costs, structured
extraction, the scripted test double), ``inferlearn.server`` (the local model server),
``inferlearn.rag``, ``inferlearn.evals``, ``inferlearn.prod`` and ``inferlearn.course`` (running
and grading notebooks).
"""

__version__ = "0.1.0"
