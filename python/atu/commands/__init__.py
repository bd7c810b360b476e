"""The `atu` subcommands whose work lives in a module of its own (atu/<name>.py): each module here
holds only the parser, the checks of the command line and the exit codes."""
