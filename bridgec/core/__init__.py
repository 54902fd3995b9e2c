"""The core layer: the IR and its conventions, errors, numerics and the services every layer shares."""
