#!/bin/sh
# The few-shot floor: `graft train` with its defaults on 10 labels per digit
# (the demo's digits, seed 0, written as PNG folders by fewshot_digits.py)
# must reach FLOOR percent on the demo's fixed test set. Chance is 10%; the
# defaults reached 91.8% when this was written and `graft demo`'s best arm
# 92.9% (docs/DEMO.md, "graft train with its defaults").
# Usage: tests/fewshot_floor.sh BIN/graft BASE_MODEL [FLOOR]
# Prints the accuracy; exits 1 below the floor.
graft=$1
base=$2
floor=${3:-85}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 "$here/fewshot_digits.py" "$here/../examples/demo/digits.csv.gz" "$dir" 10 0 || exit 1
"$graft" train "$base" --data "$dir/train" --out "$dir/m.graft" --quiet || exit 1
"$graft" eval "$dir/m.graft" --data "$dir/test" --json > "$dir/eval.json" || exit 1
python3 - "$dir/eval.json" "$floor" <<'PY'
import json, sys
acc = 100 * json.load(open(sys.argv[1]))["accuracy"]
floor = float(sys.argv[2])
print("graft train with its defaults, 10 labels per digit: %.1f%% on the demo's test digits "
      "(floor %.0f%%, chance 10%%)" % (acc, floor))
sys.exit(0 if acc >= floor else 1)
PY
