"""The embedded profile's adapters: a folder bucket, FAISS, in-process model handlers, the offline writer."""
