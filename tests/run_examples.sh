#!/bin/sh
# Runs each example program given as an argument, each in a fresh temporary
# folder (examples may write files); each must exit with 0.
# Ends with "N passed, N failed".
passed=0
failed=0
for prog in "$@"; do
    name=$(basename "$prog")
    path=$(realpath "$prog")
    dir=$(mktemp -d)
    if out=$(cd "$dir" && "$path" 2>&1); then
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
