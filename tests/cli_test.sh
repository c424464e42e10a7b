#!/bin/sh
# Drives every graft command on a small generated dataset and checks exit
# codes and outputs. Usage: tests/cli_test.sh BIN/graft BASE_MODEL
# Ends with "N passed, N failed".
graft=$(realpath "$1")
base=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
passed=0
failed=0

check() { # name, then a command that must succeed
    name=$1
    shift
    if "$@" > "$dir/out" 2> "$dir/err"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAILED: $name"
        sed 's/^/    /' "$dir/out" "$dir/err" | tail -n 20
    fi
}

status_is() { # expected status, command...
    want=$1
    shift
    "$@" > "$dir/out" 2> "$dir/err"
    [ $? -eq "$want" ]
}

png_size() { # decodes a PNG's chunks and pixel data; prints "width height"
    python3 - "$1" <<'PY'
import struct, sys, zlib
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, w = 8, b"", None
while pos < len(d):
    n, kind = struct.unpack(">I4s", d[pos:pos + 8])
    body = d[pos + 8:pos + 8 + n]
    assert zlib.crc32(kind + body) & 0xFFFFFFFF == struct.unpack(">I", d[pos + 8 + n:pos + 12 + n])[0]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype == 2
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
assert len(zlib.decompress(idat)) == h * (1 + 3 * w)
print(w, h)
PY
}

python3 "$here/make_pngs.py" "$dir/data" 16 || { echo "cannot make the images"; exit 1; }

check "help" "$graft" --help
check "version" sh -c "\"$graft\" --version | grep -q '^graft [0-9]'"
for cmd in info train eval predict export demo; do
    check "$cmd --help" sh -c "\"$graft\" $cmd --help | grep -q usage"
done
check "no command: status 2" status_is 2 "$graft"
check "unknown command: status 2" status_is 2 "$graft" frobnicate
check "unknown option: status 2" status_is 2 "$graft" info "$base" --frob
check "missing model: status 1 and a message" sh -c \
    "! \"$graft\" info /nonexistent.graft 2> \"$dir/e\" && grep -q 'nonexistent.graft' \"$dir/e\""

check "info" sh -c "\"$graft\" info \"$base\" | grep -q 'Total params'"
check "info --json" sh -c "\"$graft\" info \"$base\" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"layers\"] and d[\"params\"] > 0'"

check "train" "$graft" train "$base" --data "$dir/data" --out "$dir/m.graft" --epochs 6 \
    --lr 0.01 --quiet --val-fraction 0.25 --seed 3
check "train wrote the model" test -s "$dir/m.graft"
size=$(png_size "$dir/m.png" 2> /dev/null)
check "train wrote the curves: a PNG that decodes, 900x420" test "$size" = "900 420"
check "train --json lines" sh -c "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/j.graft\" --epochs 2 --json --plot \"$dir/j.png\" | python3 -c 'import json,sys; lines=[json.loads(l) for l in sys.stdin]; assert lines[-1][\"event\"]==\"done\" and sum(1 for l in lines if l[\"event\"]==\"epoch\")==2'"
check "train on a missing folder: status 1" status_is 1 "$graft" train "$base" --data "$dir/none" --out "$dir/x.graft"
check "train without --out: status 2" status_is 2 "$graft" train "$base" --data "$dir/data"

check "info of the result names the new head and classes" sh -c \
    "\"$graft\" info \"$dir/m.graft\" | grep -q 'head/fc' && \"$graft\" info \"$dir/m.graft\" | grep -q 'bar column dot'"
check "eval" sh -c "\"$graft\" eval \"$dir/m.graft\" --data \"$dir/data\" --top 2 | grep -q 'accuracy'"
check "eval --json, accuracy above chance" sh -c "\"$graft\" eval \"$dir/m.graft\" --data \"$dir/data\" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"count\"]==48 and d[\"accuracy\"] > 0.5, d[\"accuracy\"]; assert len(d[\"confusion\"])==3'"
check "eval --plot writes a PNG" sh -c "\"$graft\" eval \"$dir/m.graft\" --data \"$dir/data\" --plot \"$dir/cm.png\" --quiet > /dev/null && python3 -c 'import sys; d=open(sys.argv[1],\"rb\").read(8); assert d==b\"\\x89PNG\\r\\n\\x1a\\n\"' \"$dir/cm.png\""
check "predict" sh -c "\"$graft\" predict \"$dir/m.graft\" \"$dir/data/bar/000.png\" --top 2 | grep -q '%'"
check "predict --json" sh -c "\"$graft\" predict \"$dir/m.graft\" \"$dir/data/dot/001.png\" \"$dir/data/column/002.png\" --json | python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; assert len(r)==2 and abs(sum(t[\"probability\"] for t in r[0][\"top\"]) - 1) < 1e-4'"
check "predict a broken image: status 1, named" sh -c \
    "printf 'not an image' > \"$dir/bad.png\"; ! \"$graft\" predict \"$dir/m.graft\" \"$dir/bad.png\" 2> \"$dir/e\" && grep -q 'bad.png' \"$dir/e\""

check "export" "$graft" export "$dir/m.graft" "$dir/m.onnx" --quiet
check "export --fold-bn" "$graft" export "$dir/m.graft" "$dir/f.onnx" --fold-bn --quiet
check "the exported ONNX file loads back" sh -c "\"$graft\" info \"$dir/m.onnx\" | grep -q 'Total params'"
check "the re-imported model predicts as the original" sh -c \
    "\"$graft\" predict \"$dir/m.graft\" \"$dir/data/dot/003.png\" --top 1 --json > \"$dir/a\" && \
     \"$graft\" predict \"$dir/m.onnx\" \"$dir/data/dot/003.png\" --top 1 --json > \"$dir/b\" && \
     python3 -c 'import json,sys; a,b=[json.load(open(p))[\"top\"][0] for p in sys.argv[1:]]; assert a[\"class\"]==b[\"class\"] and abs(a[\"probability\"]-b[\"probability\"])<1e-4' \"$dir/a\" \"$dir/b\""
check "export of a missing model: status 1" status_is 1 "$graft" export /nonexistent.graft "$dir/x.onnx"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
