#!/usr/bin/env bash
# The README's main job: reproduce the paper on Fashion-MNIST at the quick preset, installing
# what it needs. Writes results/fmnist-quick/{results.json, report.html, figures/, tables/}.
# Re-running it resumes; PRESET=paper for the paper's protocol.
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET="${PRESET:-quick}"
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) || echo "could not apt-get Fashion-MNIST; it will be downloaded"
fi
python3 -c "import advtrojan, torchattacks" 2>/dev/null || bash scripts/install.sh
advtrojan reproduce --dataset fmnist --preset "$PRESET"
