"""The demo application: a small question-answering pipeline over a bundled corpus.

``evalyard demo`` runs it twice, with two configurations, logs both runs and compares them.
The pipeline has two steps, ``retrieve`` (a tool: keyword overlap or BM25 over the
passages) and ``answer`` (a deterministic extractive "model" that picks the sentence of the
retrieved passages best matching the question and extracts an answer from it), so the two
runs differ for real: some questions improve, some regress.

Example:
    >>> from evalyard.demo.pipeline import answer_question
    >>> answer_question({"question": "What is the capital of Veloria?"}).answer
    'Marrowgate'
"""

from __future__ import annotations
