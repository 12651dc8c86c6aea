"""Rule actions: how a matched event becomes one item of a Braze request."""
