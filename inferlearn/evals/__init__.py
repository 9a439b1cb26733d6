"""Evaluation: golden sets, retrieval metrics (trec_eval-exact), judges, runs and regressions."""
