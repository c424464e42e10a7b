#!/bin/sh
# Drives every graft command on a small generated dataset and checks exit
# codes and outputs. Usage: tests/cli_test.sh BIN/graft BASE_MODEL
# Ends with "N passed, N failed".
graft=$(realpath "$1")
base=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
lib=$(cd "$(dirname "$graft")/../lib" && pwd)
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

says() { # expected status, text standard error must contain, command...
    want=$1
    text=$2
    shift 2
    "$@" > "$dir/out" 2> "$dir/err"
    st=$?
    [ "$st" -eq "$want" ] || { echo "status $st, expected $want"; return 1; }
    grep -qF -- "$text" "$dir/err" || { echo "no \"$text\" in the message"; return 1; }
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
check "train --early-stop 1 with an unreachable --min-delta: stops after the second epoch" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/es.graft\" --epochs 6 --json --early-stop 1 \
     --min-delta 1000 --plot \"$dir/es.png\" | python3 -c 'import json,sys; e=[json.loads(l) for l in sys.stdin]; e=[l for l in e if l[\"event\"]==\"epoch\"]; assert len(e)==2 and e[-1][\"best_epoch\"]==1 and e[-1][\"lr_scale\"]==1, e'"
check "train --restore-best after an early stop: done names the best epoch and its figure" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/es.graft\" --epochs 6 --json --early-stop 1 \
     --min-delta 1000 --restore-best --val-fraction 0.25 --plot \"$dir/es.png\" | python3 -c 'import json,sys; e=[json.loads(l) for l in sys.stdin]; d=e[-1]; ep=[l for l in e if l[\"event\"]==\"epoch\"]; assert d[\"event\"]==\"done\" and d[\"epoch\"]==1 and len(ep)==2 and d[\"val_accuracy\"]==ep[0][\"val_accuracy\"], (d, ep)'"
check "train --restore-best --save-best: the best checkpoint is a model eval reads" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/rb.graft\" --epochs 2 --quiet --restore-best \
     --save-best \"$dir/best.ckpt\" --monitor val_accuracy --val-fraction 0.25 --reduce-on-plateau 0.5,0 --min-lr 1e-5 \
     --plot \"$dir/rb.png\" && \"$graft\" eval \"$dir/best.ckpt\" --data \"$dir/data\" --quiet > /dev/null && \
     \"$graft\" info \"$dir/best.ckpt\" | grep -q '^Preprocessing: grey, 28 x 28'"
check "--monitor val_loss when the default holds out no validation part: status 2, said" \
    says 2 "fewer than 30 images in a class" "$graft" train "$base" --data "$dir/data" --out "$dir/x.graft" \
    --monitor val_loss --early-stop 1
check "--save-best in a missing directory: status 1 before training" \
    says 1 "directory $dir/nodir does not exist" "$graft" train "$base" --data "$dir/none" --out "$dir/x.graft" --save-best "$dir/nodir/b.ckpt" --early-stop 2
check "train with label smoothing, balanced class weights, clipping, mixup and cutmix" \
    "$graft" train "$base" --data "$dir/data" --out "$dir/l.graft" --epochs 2 --quiet \
    --label-smoothing 0.1 --class-weights balanced --clip-grad-norm 1 --mixup 0.2 --cutmix 1 \
    --plot "$dir/l.png"
check "train --class-weights with one weight per class" "$graft" train "$base" --data "$dir/data" \
    --out "$dir/l.graft" --epochs 1 --quiet --class-weights 1,0.5,2 --plot "$dir/l.png"
check "train --class-weights with the wrong count: status 2, said" says 2 "one per class, in the order of the class folders" \
    "$graft" train "$base" --data "$dir/data" --out "$dir/l.graft" --class-weights 1,2
check "train on a missing folder: status 1" status_is 1 "$graft" train "$base" --data "$dir/none" --out "$dir/x.graft"
check "train without --out: status 2" status_is 2 "$graft" train "$base" --data "$dir/data"
check "train --from-scratch trains every layer" sh -c "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/s.graft\" --epochs 1 --quiet --from-scratch --seed 4 && \"$graft\" info \"$dir/s.graft\" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert all(l[\"trainable\"] for l in d[\"layers\"])'"

check "info of the result names the new head and classes" sh -c \
    "\"$graft\" info \"$dir/m.graft\" | grep -q 'head/fc' && \"$graft\" info \"$dir/m.graft\" | grep -q 'bar column dot'"
check "eval" sh -c "\"$graft\" eval \"$dir/m.graft\" --data \"$dir/data\" --top 2 | grep -q 'accuracy'"
check "eval --json, accuracy above chance" sh -c "\"$graft\" eval \"$dir/m.graft\" --data \"$dir/data\" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"count\"]==48 and d[\"accuracy\"] > 0.5, d[\"accuracy\"]; assert len(d[\"confusion\"])==3'"
check "eval --json: macro and per-class F1 and ROC-AUC" sh -c "\"$graft\" eval \"$dir/m.graft\" --data \"$dir/data\" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert 0 <= d[\"f1_macro\"] <= 1 and 0.5 < d[\"auc\"] <= 1, d; assert all(0 <= c[\"f1\"] <= 1 and 0 <= c[\"auc\"] <= 1 for c in d[\"classes\"])'"
check "eval prints F1 and ROC-AUC" sh -c "\"$graft\" eval \"$dir/m.graft\" --data \"$dir/data\" | grep -q 'macro F1 .*ROC-AUC'"
check "eval --plot writes a PNG" sh -c "\"$graft\" eval \"$dir/m.graft\" --data \"$dir/data\" --plot \"$dir/cm.png\" --quiet > /dev/null && python3 -c 'import sys; d=open(sys.argv[1],\"rb\").read(8); assert d==b\"\\x89PNG\\r\\n\\x1a\\n\"' \"$dir/cm.png\""
check "predict" sh -c "\"$graft\" predict \"$dir/m.graft\" \"$dir/data/bar/000.png\" --top 2 | grep -q '%'"
check "predict --json" sh -c "\"$graft\" predict \"$dir/m.graft\" \"$dir/data/dot/001.png\" \"$dir/data/column/002.png\" --json | python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; assert len(r)==2 and abs(sum(t[\"probability\"] for t in r[0][\"top\"]) - 1) < 1e-4'"
check "predict a broken image: status 1, named" sh -c \
    "printf 'not an image' > \"$dir/bad.png\"; ! \"$graft\" predict \"$dir/m.graft\" \"$dir/bad.png\" 2> \"$dir/e\" && grep -q 'bad.png' \"$dir/e\""

# The preprocessing travels with the model: trained with --normalize byte,
# predict and eval need no flag (before graft 1.3 they silently used unit).
check "train --normalize byte" "$graft" train "$base" --data "$dir/data" --out "$dir/byte.graft" \
    --epochs 6 --lr 0.01 --quiet --val-fraction 0.25 --seed 3 --normalize byte \
    --head-at gap --batch 32 --constant-lr
check "info shows the saved preprocessing" sh -c \
    "\"$graft\" info \"$dir/byte.graft\" | grep -q '^Preprocessing: grey, 28 x 28, .*values in \[0, 255\]' && \
     \"$graft\" info \"$dir/byte.graft\" --json | python3 -c 'import json,sys; p=json.load(sys.stdin)[\"preprocess\"]; assert p[\"scale\"]==255 and p[\"normalize\"]==\"scale\", p' && \
     \"$graft\" info \"$base\" | grep -q '^Preprocessing: none saved'"
check "predict without flags applies the saved byte preprocessing, not the unit default" sh -c \
    "\"$graft\" predict \"$dir/byte.graft\" \"$dir/data/bar/000.png\" --json > \"$dir/p1\" && \
     \"$graft\" predict \"$dir/byte.graft\" \"$dir/data/bar/000.png\" --json --normalize byte > \"$dir/p2\" && \
     \"$graft\" predict \"$dir/byte.graft\" \"$dir/data/bar/000.png\" --json --normalize unit > \"$dir/p3\" 2> /dev/null && \
     cmp \"$dir/p1\" \"$dir/p2\" && ! cmp -s \"$dir/p1\" \"$dir/p3\""
check "eval without flags equals eval --normalize byte, above chance" sh -c \
    "\"$graft\" eval \"$dir/byte.graft\" --data \"$dir/data\" --json > \"$dir/e1\" && \
     \"$graft\" eval \"$dir/byte.graft\" --data \"$dir/data\" --json --normalize byte > \"$dir/e2\" 2> \"$dir/e2err\" && \
     cmp \"$dir/e1\" \"$dir/e2\" && ! test -s \"$dir/e2err\" && \
     python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d[\"accuracy\"] > 0.5, d' \"$dir/e1\""
check "a --normalize that differs from the saved one wins, with a note" says 0 \
    "note: --normalize unit overrides the model's saved preprocessing, byte ([0, 255])" \
    "$graft" predict "$dir/byte.graft" "$dir/data/bar/000.png" --normalize unit
check "fine-tuning a model with saved preprocessing keeps it" sh -c \
    "\"$graft\" train \"$dir/byte.graft\" --data \"$dir/data\" --out \"$dir/byte2.graft\" --epochs 1 --quiet && \
     \"$graft\" info \"$dir/byte2.graft\" | grep -q 'values in \[0, 255\]'"

# A tf2onnx-style Keras model: its Dense (MatMul, then the bias's Constant
# node, then Add) is one dense layer with its bias, not a frozen scale_shift.
keras="$root/tests/data/onnx/keras_style.onnx"
check "info of a Keras model: the dense layer has its bias" sh -c \
    "\"$graft\" info \"$keras\" > \"$dir/k\" && grep -q 'model/dense/MatMul (dense) .* 85  yes' \"$dir/k\" && ! grep -q scale_shift \"$dir/k\""
# An ONNX file with several unsupported nodes: all listed, one a line.
unsup="$root/tests/data/onnx/unsupported.onnx"
check "info of an unsupported model: status 1, the message on standard error" says 1 \
    '5 nodes graft cannot import (2 Erf, 1 Resize, 1 LpNormalization, 1 GRU)' "$graft" info "$unsup"
check "info of an unsupported model lists its nodes one a line" sh -c \
    "\"$graft\" info \"$unsup\" 2> /dev/null > \"$dir/u\"; [ \$? -eq 1 ] && \
     sed -n 2p \"$dir/u\" | grep -qx '5 nodes graft cannot import (2 Erf, 1 Resize, 1 LpNormalization, 1 GRU):' && \
     grep -qx '  node \"gelu_1/erf\" (Erf): graft does not support the operator Erf' \"$dir/u\" && \
     grep -qx '  node \"upsample\" (Resize): mode \"cubic\"; graft resizes nearest and linear' \"$dir/u\" && \
     grep -qx '  ... and 1 more' \"$dir/u\" && \
     grep -qx '  3 later nodes that read their outputs were not checked' \"$dir/u\" && \
     [ \$(grep -c '^  node ' \"$dir/u\") -eq 4 ]"
check "info --json of an unsupported model" sh -c \
    "\"$graft\" info \"$unsup\" --json 2> /dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); u=d[\"unsupported\"]; assert len(u)==6 and u[0].startswith(\"node \\\"gelu/erf\\\" (Erf)\") and u[2].endswith(\"nearest and linear\"), u; assert d[\"error\"].startswith(\"graft_onnx_import(): 5 nodes\")'"

check "export" "$graft" export "$dir/m.graft" "$dir/m.onnx" --quiet
check "the ONNX file keeps the preprocessing (metadata_props), and predict applies it" sh -c \
    "\"$graft\" info \"$dir/m.onnx\" | grep -q '^Preprocessing: grey, 28 x 28, .*values in \[0, 1\]$' && \
     \"$graft\" export \"$dir/byte.graft\" \"$dir/byte.onnx\" --quiet && \
     \"$graft\" predict \"$dir/byte.onnx\" \"$dir/data/bar/000.png\" --top 1 --json > \"$dir/p3\" && \
     \"$graft\" predict \"$dir/byte.graft\" \"$dir/data/bar/000.png\" --top 1 --json > \"$dir/p4\" && \
     python3 -c 'import json,sys; a,b=(json.load(open(p)) for p in sys.argv[1:]); assert a[\"top\"][0][\"class\"]==b[\"top\"][0][\"class\"] and abs(a[\"top\"][0][\"probability\"]-b[\"top\"][0][\"probability\"])<1e-4, (a, b)' \"$dir/p3\" \"$dir/p4\""
check "export --fold-bn" "$graft" export "$dir/m.graft" "$dir/f.onnx" --fold-bn --quiet
check "the exported ONNX file loads back" sh -c "\"$graft\" info \"$dir/m.onnx\" | grep -q 'Total params'"
check "the re-imported model predicts as the original" sh -c \
    "\"$graft\" predict \"$dir/m.graft\" \"$dir/data/dot/003.png\" --top 1 --json > \"$dir/a\" && \
     \"$graft\" predict \"$dir/m.onnx\" \"$dir/data/dot/003.png\" --top 1 --json > \"$dir/b\" && \
     python3 -c 'import json,sys; a,b=[json.load(open(p))[\"top\"][0] for p in sys.argv[1:]]; assert a[\"class\"]==b[\"class\"] and abs(a[\"probability\"]-b[\"probability\"])<1e-4' \"$dir/a\" \"$dir/b\""
check "export of a missing model: status 1" status_is 1 "$graft" export /nonexistent.graft "$dir/x.onnx"

# ---- ONNX files that leave input sizes open: --input-shape ----

open_hw="$root/tests/data/onnx/fcn_open_hw.onnx"
check "info of an ONNX file with open height and width: status 1, every open axis and the flag named" \
    says 1 'axis 2 ("height") and axis 3 ("width") of the graph input "x" have no fixed size; give them with the import option input_shape (CLI: --input-shape 1x3xheightxwidth)' \
    "$graft" info "$open_hw"
check "info --input-shape fixes them" sh -c "\"$graft\" info \"$open_hw\" --input-shape 1x3x48x64 | grep -q 'Total params'"
check "info --input-shape --json: the sizes carried through the graph" sh -c \
    "\"$graft\" info \"$open_hw\" --input-shape=2x3x48x64 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"layers\"][-1][\"output_shape\"] == [4, 24, 32], d'"
check "info --input-shape at another size" sh -c \
    "\"$graft\" info \"$open_hw\" --input-shape 1x3x17x23 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"layers\"][-1][\"output_shape\"] == [4, 9, 12], d'"
check "--input-shape against a size the file fixes: status 1, axis and sizes named" \
    says 1 "input_shape gives axis 1 of the graph input \"x\" the size 4; the file fixes it at 3" \
    "$graft" info "$open_hw" --input-shape 1x4x48x64
check "--input-shape of the wrong rank: status 1" \
    says 1 "input_shape has 3 sizes; the graph input \"x\" has rank 4" "$graft" info "$open_hw" --input-shape 3x48x64
check "export --input-shape, and the exported file loads without it" sh -c \
    "\"$graft\" export \"$open_hw\" \"$dir/open.onnx\" --input-shape 1x3x20x30 --quiet && \
     \"$graft\" info \"$dir/open.onnx\" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"layers\"][-1][\"output_shape\"] == [4, 10, 15], d'"
for v in "1x3x48x" "x3x4x4" "1x3x0x4" "1X3x4x4" "1x-3x4x4" "1x3x4x4x1x1x1x1x1" "abc" "" " 1x3x4x4" \
         "1x3x4x4 " "1x3x4.5x4" "1x3x99999999999x4" "1xx3x4"; do
    check "info --input-shape \"$v\": status 2" says 2 "--input-shape takes 1 to 8 sizes" "$graft" info "$open_hw" --input-shape "$v"
done
check "--input-shape with a .graft model: status 2, said" \
    says 2 "--input-shape is for .onnx models" "$graft" info "$base" --input-shape 1x1x28x28
for cmd in info train eval predict export; do
    check "$cmd --help shows --input-shape" sh -c "\"$graft\" $cmd --help | grep -q -- --input-shape"
done

# ---- one class, output folders, option values, damaged images, rates ----

mkdir -p "$dir/one" "$dir/oneplus/empty"
cp -r "$dir/data/bar" "$dir/one/"
cp -r "$dir/data/bar" "$dir/oneplus/"
check "train on one class: status 1, said, nothing written" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/one\" --out \"$dir/one.graft\" --epochs 1 2> \"$dir/e\"; \
     [ \$? -eq 1 ] && grep -q 'at least two classes' \"$dir/e\" && ! test -e \"$dir/one.graft\""
check "train on one class with images and an empty one: status 1" \
    says 1 "only one class (bar)" "$graft" train "$base" --data "$dir/oneplus" --out "$dir/one.graft"

check "--out in a missing directory: status 1, named, before the data is read" \
    sh -c "\"$graft\" train \"$base\" --data \"$dir/none\" --out \"$dir/nodir/m.graft\" 2> \"$dir/e\"; \
           [ \$? -eq 1 ] && grep -qF \"directory $dir/nodir does not exist\" \"$dir/e\" && ! grep -q 'images' \"$dir/e\""
check "--out in a missing directory: no training" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/nodir/m.graft\" --json > \"$dir/o\"; \
     [ \$? -eq 1 ] && ! grep -q epoch \"$dir/o\""
touch "$dir/plainfile"
check "--out under a file: status 1, named" \
    says 1 "$dir/plainfile is not a directory" "$graft" train "$base" --data "$dir/data" --out "$dir/plainfile/m.graft"
check "--out a directory: status 1" says 1 "is a directory" "$graft" train "$base" --data "$dir/data" --out "$dir"
check "--plot in a missing directory: status 1 before training" \
    says 1 "directory $dir/nodir does not exist" "$graft" train "$base" --data "$dir/none" --out "$dir/x.graft" --plot "$dir/nodir/c.png"
check "eval --plot in a missing directory: status 1, named, before evaluating" \
    says 1 "directory $dir/nodir does not exist" "$graft" eval "$dir/m.graft" --data "$dir/data" --plot "$dir/nodir/cm.png"
if [ "$(id -u)" != 0 ]; then # root writes anywhere
    mkdir "$dir/ro" && chmod 555 "$dir/ro"
    check "--out in an unwritable directory: status 1, named" \
        says 1 "directory $dir/ro is not writable" "$graft" train "$base" --data "$dir/data" --out "$dir/ro/m.graft"
fi

# Every bad option value is a usage error (status 2), found before any work.
# (Paths point into $dir, so that a tool that ignored a value writes nothing
# elsewhere.)
T="train $base --data $dir/data --out $dir/bad.graft"
for args in "$T --normalize foo" "$T --threads 0" "$T --threads 65" "$T --epochs 0" "$T --batch x" \
            "$T --lr -1" "$T --lr nan" "$T --dropout 1" "$T --seed -3" "$T --hidden 1.5" \
            "$T --val-fraction 0.95" "$T --optim rmsprop" "$T --unfreeze-at -1" \
            "$T --unfreeze-lr-scale 1000 --unfreeze-from block3/conv" "$T --normalize imagenet" \
            "$T --freeze-through nosuchlayer" "$T --unfreeze-from nosuchlayer" \
            "$T --unfreeze-at 1" "$T --train-all --freeze-through gap" "$T --val-fraction 0.001" \
            "$T --early-stop 0" "$T --early-stop 2 --monitor val_loss --val-fraction 0" \
            "$T --early-stop 2 --monitor loss_of_nerve" "$T --monitor loss" "$T --min-delta 0.1" \
            "$T --reduce-on-plateau 1,2" "$T --reduce-on-plateau 0.5" "$T --reduce-on-plateau 0.5,-1" \
            "$T --min-lr 0.001" "$T --early-stop 2 --min-delta -1" \
            "$T --head-at nosuchlayer" "$T --head-at fc" "$T --cosine --constant-lr" \
            "$T --head-at block3/relu --freeze-through gap" "$T --head-at gap --unfreeze-from fc" \
            "$T --label-smoothing 1.5" "$T --class-weights heavy" "$T --class-weights 1,-1" \
            "$T --clip-grad-norm -1" "$T --mixup nan" "$T --cutmix 2000" \
            "eval $dir/m.graft --data $dir/data --normalize foo" \
            "eval $dir/m.graft --data $dir/data --threads 0" \
            "eval $dir/m.graft --data $dir/data --normalize imagenet" \
            "eval $dir/m.graft --data $dir/data --top 0" "eval $dir/m.graft --data $dir/data --batch 0" \
            "predict $dir/m.graft $dir/data/bar/000.png --normalize foo" \
            "predict $dir/m.graft $dir/data/bar/000.png --threads 0" \
            "predict $dir/m.graft $dir/data/bar/000.png --normalize imagenet" \
            "predict $dir/m.graft $dir/data/bar/000.png --top 0" \
            "export $dir/m.graft $dir/x.onnx --opset 12" \
            "$T --input-shape 1x1x28x28" "eval $dir/m.graft --data $dir/data --input-shape 1x3" \
            "predict $dir/m.graft $dir/data/bar/000.png --input-shape 0x1" \
            "export $dir/m.graft $dir/x.onnx --input-shape 1x3x4x4" \
            "predict $dir/m.onnx $dir/data/bar/000.png --input-shape 1x3xx4" \
            "demo --seeds 0 --out $dir/demo --base $dir/none.graft" \
            "demo --epochs 2 --out $dir/demo --base $dir/none.graft" \
            "demo --pretrain --epochs 0 --base $dir/p.graft --fashion $dir/none" \
            "demo --pretrain --seeds 2 --base $dir/p.graft --fashion $dir/none" \
            "demo extra --out $dir/demo --base $dir/none.graft"; do
    # shellcheck disable=SC2086 # the words are the arguments
    check "bad value: graft $(echo "$args" | sed "s|$dir|DIR|g; s|$base|BASE|g"): status 2" status_is 2 "$graft" $args
done
check "a bad value names the option" says 2 "--normalize takes unit, imagenet or byte" "$graft" $T --normalize foo

# A damaged image whose header is fine (found only when decoded) and a file
# that is not an image at all.
cp -r "$dir/data" "$dir/bad"
head -c 60 "$dir/data/bar/003.png" > "$dir/bad/bar/003.png"
printf 'not an image' > "$dir/bad/dot/junk.png"
check "a file that is not an image: status 1, named, --skip-bad suggested" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/bad\" --out \"$dir/b.graft\" --quiet 2> \"$dir/e\"; \
     [ \$? -eq 1 ] && grep -q 'junk.png' \"$dir/e\" && grep -q -- '--skip-bad' \"$dir/e\""
rm "$dir/bad/dot/junk.png"
check "a damaged image found while training: status 1, named" \
    says 1 "bar/003.png" "$graft" train "$base" --data "$dir/bad" --out "$dir/b.graft" --quiet
printf 'not an image' > "$dir/bad/dot/junk.png"
check "train --skip-bad: trains without the two bad files and lists them" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/bad\" --out \"$dir/b.graft\" --epochs 2 --skip-bad 2> \"$dir/e\" && \
     grep -q 'skipped 2 unreadable' \"$dir/e\" && grep -q 'bar/003.png: ' \"$dir/e\" && \
     grep -q 'dot/junk.png: ' \"$dir/e\" && grep -q '^47 images in 3 classes' \"$dir/e\" && test -s \"$dir/b.graft\""
check "train --skip-bad --json: a skipped event, then the epochs" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/bad\" --out \"$dir/b.graft\" --epochs 2 --skip-bad --augment --json | python3 -c '
import json, sys
lines = [json.loads(l) for l in sys.stdin]
s = lines[0]
assert s[\"event\"] == \"skipped\" and s[\"count\"] == 2, s
assert sorted(f[\"path\"].split(\"/\")[-1] for f in s[\"files\"]) == [\"003.png\", \"junk.png\"], s
assert all(f[\"reason\"] for f in s[\"files\"])
assert [l[\"event\"] for l in lines[1:]] == [\"epoch\", \"epoch\", \"done\"], lines'"
check "eval --skip-bad: evaluates the readable images, lists the others" sh -c \
    "\"$graft\" eval \"$dir/m.graft\" --data \"$dir/bad\" --skip-bad --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d[\"count\"] == 47 and len(d[\"skipped\"]) == 2, d'"
check "eval --help and train --help show --skip-bad" sh -c \
    "\"$graft\" train --help | grep -q -- --skip-bad && \"$graft\" eval --help | grep -q -- --skip-bad"

# Images per second count the images that went through the model: with the
# feature cache, the first epoch computes every image (building the cache),
# the later ones only the validation images.
check "train --json: images through the model and from the feature cache" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/r.graft\" --epochs 3 --val-fraction 0.25 --json | python3 -c '
import json, sys
e = [l for l in map(json.loads, sys.stdin) if l[\"event\"] == \"epoch\"]
assert [(l[\"trunk_images\"], l[\"cached_samples\"]) for l in e] == [(48, 0), (12, 36), (12, 36)], e
for l in e:
    assert l[\"seconds\"] > 0 and abs(l[\"images_per_sec\"] * l[\"seconds\"] - l[\"trunk_images\"]) < 0.01 * l[\"trunk_images\"] + 1e-6, l'"
check "train --json without validation: cached epochs compute no image" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/r.graft\" --epochs 2 --val-fraction 0 --json | python3 -c '
import json, sys
e = [l for l in map(json.loads, sys.stdin) if l[\"event\"] == \"epoch\"]
assert [(l[\"trunk_images\"], l[\"cached_samples\"], l[\"images_per_sec\"]) for l in e][1] == (0, 48, 0), e'"
check "train --augment --json: no cache, every image computed every epoch" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/r.graft\" --epochs 2 --augment --val-fraction 0.25 --json | python3 -c '
import json, sys
e = [l for l in map(json.loads, sys.stdin) if l[\"event\"] == \"epoch\"]
assert [(l[\"trunk_images\"], l[\"cached_samples\"]) for l in e] == [(48, 0), (48, 0)], e'"
check "train --unfreeze-from: the cache is rebuilt when the trunk changes" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/r.graft\" --epochs 4 --unfreeze-from block3/conv --unfreeze-at 2 --val-fraction 0.25 --json | python3 -c '
import json, sys
e = [l for l in map(json.loads, sys.stdin) if l[\"event\"] == \"epoch\"]
assert [l[\"cached_samples\"] for l in e] == [0, 36, 0, 36], e'"
check "train --augment=strong --json: every image computed every epoch" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/r.graft\" --epochs 2 --augment=strong --val-fraction 0.25 --json | python3 -c '
import json, sys
e = [l for l in map(json.loads, sys.stdin) if l[\"event\"] == \"epoch\"]
assert [(l[\"trunk_images\"], l[\"cached_samples\"]) for l in e] == [(48, 0), (48, 0)], e'"
check "train --augment=none: no augmentation, so the second epoch is cached" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/r.graft\" --epochs 2 --augment=none --val-fraction 0 --json | python3 -c '
import json, sys
e = [l for l in map(json.loads, sys.stdin) if l[\"event\"] == \"epoch\"]
assert [l[\"cached_samples\"] for l in e][1] == 48, e'"
check "train --augment=light and --augment alone give models" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/r1.graft\" --epochs 1 --augment=light --quiet && \
     \"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/r2.graft\" --epochs 1 --augment --quiet && test -s \"$dir/r1.graft\" && test -s \"$dir/r2.graft\""
check "--augment=bogus: status 2, the presets named" says 2 "--augment takes none, light, standard or strong" "$graft" $T --augment=bogus
check "predict --tta and --tta=all: probabilities that sum to 1" sh -c \
    "for v in --tta --tta=crops --tta=all; do \"$graft\" predict \"$dir/m.graft\" \"$dir/data/dot/001.png\" --top 3 \$v --json | python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); assert abs(sum(t[\"probability\"] for t in r[\"top\"]) - 1) < 1e-4' || exit 1; done"
check "--tta=bogus: status 2, the views named" says 2 "--tta takes flip, crops or all" "$graft" predict "$dir/m.graft" "$dir/data/bar/000.png" --tta=bogus
check "train: the epoch lines say what came from the feature cache" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/r.graft\" --epochs 2 --val-fraction 0.2 2> \"$dir/e\" && \
     grep -q '^epoch 1/2: .*; 48 images through the model in' \"$dir/e\" && \
     grep -q '^epoch 2/2: .*; 10 images through the model in .*, 38 samples from the feature cache' \"$dir/e\""

# Few-shot defaults (src/cli/train_fewshot.c): where the head goes, the
# budget, no validation below 30 images per class, stratified validation.
check "train: the head reads the spatial features by default, no validation below 30 per class" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/f.graft\" 2> \"$dir/e\" && \
     grep -q 'no validation split: the smallest class has 16 images' \"$dir/e\" && \
     grep -q '48 for training, 0 for validation); 60 epochs (for the size), batch 16' \"$dir/e\" && \
     grep -q 'the new head reads block3/relu (64x7x7 = 3136 values, flattened), chosen automatically' \"$dir/e\" && \
     \"$graft\" info \"$dir/f.graft\" | grep -q '^head/flatten (flatten) *block3/relu *(3136)' && \
     ! \"$graft\" info \"$dir/f.graft\" | grep -q '^gap '"
check "train on a model graft train made: the head reads where its classifier read" sh -c \
    "\"$graft\" train \"$dir/f.graft\" --data \"$dir/data\" --out \"$dir/f2.graft\" --epochs 1 2> \"$dir/e\" && \
     grep -q 'the new head reads head/flatten (3136 values), where the base.s classifier read' \"$dir/e\""
check "train --head-at block2/pool: the head reads it, flattened" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/f.graft\" --epochs 1 --head-at block2/pool 2> \"$dir/e\" && \
     grep -q 'the new head reads block2/pool (32x7x7 = 1568 values, flattened), chosen --head-at' \"$dir/e\" && \
     \"$graft\" info \"$dir/f.graft\" | grep -q '^head/fc (dense) *head/flatten *(3)' && \
     ! \"$graft\" info \"$dir/f.graft\" | grep -q '^block3/conv '"
check "train --freeze-through gap: the head goes after gap, not on block3/relu" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/f.graft\" --epochs 1 --freeze-through gap 2> \"$dir/e\" && \
     grep -q 'the new head reads gap (64x1x1 = 64 values, flattened), chosen after the --freeze-through layer' \"$dir/e\""
check "train --freeze-through block3/relu: the head reads block3/relu" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/f.graft\" --epochs 1 --freeze-through block3/relu 2> \"$dir/e\" && \
     grep -q 'the new head reads block3/relu' \"$dir/e\""
check "train --head-at a layer the head would replace: said" \
    says 2 "that is a dense layer" "$graft" train "$base" --data "$dir/data" --out "$dir/f.graft" --head-at fc
check "train --freeze-through a layer the head cuts away: said" \
    says 2 "so gap is cut away; give --head-at gap" "$graft" train "$base" --data "$dir/data" --out "$dir/f.graft" --head-at block3/relu --freeze-through gap
check "train --val-fraction 0.25: stratified, 4 of each class's 16" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/data\" --out \"$dir/f.graft\" --epochs 1 --val-fraction 0.25 2> \"$dir/e\" && \
     grep -q '(36 for training, 12 for validation)' \"$dir/e\""
mkdir -p "$dir/tiny/a" "$dir/tiny/b"
cp "$dir"/data/bar/00[01].png "$dir/tiny/a/" && cp "$dir"/data/dot/00[0-5].png "$dir/tiny/b/"
check "train --val-fraction the classes cannot give (7 of 2 + 6, each keeping one): status 2" \
    says 2 "every class keeps at least one training sample" "$graft" train "$base" --data "$dir/tiny" --out "$dir/f.graft" --val-fraction 0.9
mkdir -p "$dir/same/a" "$dir/same/b"
cp "$dir"/data/bar/00*.png "$dir/same/a/" && cp "$dir"/data/bar/00*.png "$dir/same/b/"
check "train: a warning when the accuracy stays at chance" \
    says 0 "about chance for 2 classes" "$graft" train "$base" --data "$dir/same" --out "$dir/f.graft" --epochs 3
check "train --quiet: no chance warning" sh -c \
    "\"$graft\" train \"$base\" --data \"$dir/same\" --out \"$dir/f.graft\" --epochs 3 --quiet 2> \"$dir/e\" && ! test -s \"$dir/e\""
check "few-shot floor: graft train with its defaults on 10 digits per class" sh -c \
    "sh \"$here/fewshot_floor.sh\" \"$graft\" \"$base\" > \"$dir/floor\""
cat "$dir/floor" 2>/dev/null

# Unit tests of the tool's own code, compiled against src/cli.
cc=${CC:-cc}
cflags="-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -I$root/include -I$root/src/cli"
check "plot: ticks on values near 1e17 (steps below the spacing of doubles) end and fit" sh -c \
    "$cc $cflags -o \"$dir/plot_test\" \"$root/tests/cli/plot_test.c\" \"$root/src/cli/plot.c\" \"$root/src/cli/font.c\" -lpng -lm && \
     timeout 60 \"$dir/plot_test\""
check "util: a second parse keeps the first one's option names" sh -c \
    "$cc $cflags -o \"$dir/util_test\" \"$root/tests/cli/util_test.c\" \"$root/src/cli/util.c\" -L\"$lib\" -lgraft -lm -Wl,-rpath,\"$lib\" && \
     \"$dir/util_test\""

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
