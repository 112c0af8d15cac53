"""docqa as a local service: the HTTP API (REST and OpenAI-compatible) and the MCP server,
thin layers over the library like the CLI, composed here with everything else."""
