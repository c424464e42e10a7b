#!/bin/sh
# Runs each example program given as an argument, each in a fresh temporary
# folder (examples may write files); each must exit with 0.
# An example whose source (examples/NAME.c) has a line " * test run: ARGS"
# gets those arguments, with @ROOT@ replaced by the repository's folder and
# @PHOTOS@ by a generated folder of class folders of PNG images.
# Ends with "N passed, N failed".
root=$(cd "$(dirname "$0")/.." && pwd)
passed=0
failed=0
for prog in "$@"; do
    name=$(basename "$prog")
    path=$(realpath "$prog")
    dir=$(mktemp -d)
    args=$(sed -n 's/^ \* test run: //p' "$root/examples/$name.c" 2>/dev/null | head -n 1)
    case "$args" in *@PHOTOS@*) python3 "$root/tests/make_pngs.py" "$dir/photos" 12 ;; esac
    args=$(printf '%s' "$args" | sed -e "s|@ROOT@|$root|g" -e "s|@PHOTOS@|$dir/photos|g")
    # shellcheck disable=SC2086
    if out=$(cd "$dir" && "$path" $args 2>&1); then
        passed=$((passed + 1))
        echo "example $name: ok ($(printf '%s\n' "$out" | tail -n 1))"
    else
        failed=$((failed + 1))
        echo "example $name: FAILED"
        printf '%s\n' "$out" | sed 's/^/    /'
    fi
    rm -rf "$dir"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
