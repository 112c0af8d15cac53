"""The Gradio chat: a thin layer over the library API (`docqa.pipeline.Pipeline`)."""
