"""Pure functions: hashing, fingerprints of code, parameter parsing, errors. No I/O of rung's."""
