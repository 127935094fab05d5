# Load this instead of bats-detik (`load "lib/detik"`): the same sentences and exit codes, no kubectl eval.
# bats-detik reads DETIK_CLIENT_NAMESPACE(_ALL) as shell variables of the .bats file: they are handed on.
verify() {
    DETIK_CLIENT_NAMESPACE="${DETIK_CLIENT_NAMESPACE:-}" DETIK_CLIENT_NAMESPACE_ALL="${DETIK_CLIENT_NAMESPACE_ALL:-}" \
        precheck verify "$@"
}
try() {
    DETIK_CLIENT_NAMESPACE="${DETIK_CLIENT_NAMESPACE:-}" DETIK_CLIENT_NAMESPACE_ALL="${DETIK_CLIENT_NAMESPACE_ALL:-}" \
        precheck try "$@"
}
