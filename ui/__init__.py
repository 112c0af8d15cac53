"""The Gradio chat: a thin layer over the library verbs it is handed (`ui.app.Library`)."""
