"""The catalog job: products and their images from ``products/{code}/...``, tagged, filtered, embedded, indexed."""
