"""`atu check-ops`: the self-check of atu_ext's kernels on the user's own machine and GPU."""
