"""Development-only code, never in the Lambda asset: the CLI, the local HTTP server, local ingestion, the demo
data and the tiny-model builder."""
