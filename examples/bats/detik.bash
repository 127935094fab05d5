# Load this instead of bats-detik (`load "lib/detik"`): the same sentences and exit codes, no kubectl eval.
verify() { precheck verify "$@"; }
try() { precheck try "$@"; }
