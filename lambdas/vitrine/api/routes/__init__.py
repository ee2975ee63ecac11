"""One router per route group: shopper routes are public, ``/ops/...`` routes need an operator."""
