"""One stack per concern; stacks only wire constructs together."""
