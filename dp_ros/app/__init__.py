"""The application layer: the `dp-ros` subcommands that orchestrate everything below."""
