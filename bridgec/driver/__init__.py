"""The driver layer: the command line, the Python API, conversion, checks, reports and file staging."""
