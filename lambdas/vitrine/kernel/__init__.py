"""What every job shares: plain types, the ports, S3 object events, per-object outcomes, bounded concurrency."""
