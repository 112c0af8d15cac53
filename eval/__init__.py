"""Evaluation: the `docqa eval` commands (`qa`: docqa against a plain LangChain RAG chain;
`retrieval`: BEIR; `detect`: the fact-check as a hallucination detector) and the calibration
tool (`python -m eval.calibrate`).

Never `import eval` bare (it hides the builtin); write `from eval.dataset import …`.
"""
