"""The self-check of atu_ext's kernels on the user's own machine and GPU (`atu check-ops`, whose
command line is atu/commands/check_ops.py): checks.py runs the checks, penalty_demo.py the penalties' demo."""
