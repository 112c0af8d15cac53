"""docqa: question answering over your own documents, offline, with citations or abstention.

The library API: `Settings.load()` then `build_pipeline(settings)`, whose `Pipeline` has
`ingest`, `ask`, `sources` and `remove`.
"""

from docqa.config import Settings
from docqa.pipeline import Pipeline, build_pipeline

__all__ = ["Pipeline", "Settings", "build_pipeline"]
__version__ = "0.1.0"
