"""Evaluation of answers and retrieval (not built yet); never `import eval` bare."""
