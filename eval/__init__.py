"""Evaluation: question sets (`eval.dataset`) and the fact-check calibration tool.

The `docqa eval` commands are still to come. Never `import eval` bare (it hides the builtin);
write `from eval.dataset import …`.
"""
