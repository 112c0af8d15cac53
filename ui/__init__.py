"""The Gradio chat (not built yet): a thin layer over `docqa.pipeline.Pipeline`."""
