"""The embedded local profile's runtime: an HTTP server and an S3-event builder around the Lambda code."""
