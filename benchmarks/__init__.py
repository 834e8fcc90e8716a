"""tcpchat's benchmarks: a load generator, the servers under test, and the report."""
