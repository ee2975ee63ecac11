"""One typed client per model: each speaks its endpoint's JSON and returns domain types, nothing else."""
