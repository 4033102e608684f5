"""Layer 3, the tools that drive or observe a machine: the command line,
benchmarks, reports and cost models."""
