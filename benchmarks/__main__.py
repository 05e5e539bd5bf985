"""`python -m benchmarks [--scale small|full] [--streams ...]`: see benchmarks/README.md."""

import sys

from benchmarks.harness import main

sys.exit(main())
