"""Self-tests of the emulator: each API, its faults and its ground truth, over plain HTTP."""
