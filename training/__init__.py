"""Produces the policy: data, training loop, evaluation, bag conversion."""
