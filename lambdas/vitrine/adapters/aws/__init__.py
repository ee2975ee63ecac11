"""Cloud adapters: the only code that talks to AWS (boto3, opensearch-py)."""
