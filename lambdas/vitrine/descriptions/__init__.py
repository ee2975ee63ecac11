"""Product descriptions: attributes read from the product photo, a description written from those attributes
only (grounded), checked before it is stored, and shoppers' questions about the photo."""
