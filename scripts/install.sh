#!/usr/bin/env bash
# Install advtrojan and what its tests and benchmarks need.
# torch first, pinned, so that pip never pulls another (CUDA) build for the project.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q torch==2.13.0
python3 -m pip install -q -e ".[test]"
# torchattacks is the reference for the PGD cross-check; --no-deps keeps torchvision out.
python3 -m pip install -q --no-deps torchattacks
