#!/usr/bin/env bash
# The README's main job on Fashion-MNIST, at the quick preset: installs what it needs, trains
# Vanilla, Madry-Adv and an ATIM (AdvTrojan fine-tuned from Madry-Adv), then prints Table 5.
# Re-running it reuses finished runs; set PRESET=default for the full protocol.
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET="${PRESET:-quick}"
OUT="${OUT:-runs/fmnist-$PRESET}"
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) || echo "could not apt-get Fashion-MNIST; it will be downloaded"
fi
python3 -c "import advtrojan, torchattacks" 2>/dev/null || bash scripts/install.sh
train() {  # reuse a finished run, resume an interrupted one
  advtrojan train --dataset fmnist --preset "$PRESET" --resume "$@"
}
train --objective vanilla --out "$OUT/vanilla"
train --objective madry --out "$OUT/madry"
train --objective advtrojan --init "$OUT/madry" --out "$OUT/atim"
EVAL_LIMIT=()
[ "$PRESET" = quick ] && EVAL_LIMIT=(--limit 2000)
for model in vanilla madry; do
  advtrojan evaluate "$OUT/$model" "${EVAL_LIMIT[@]}" --json "$OUT/$model.json"
done
advtrojan evaluate "$OUT/atim" --transfer-from "$OUT/vanilla" "${EVAL_LIMIT[@]}" --json "$OUT/atim.json"
