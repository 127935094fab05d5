#!/usr/bin/env bats
# An existing bats-detik suite, unchanged but for the `load` line.
load "detik"

@test "nginx is up" {
    run verify "there are 2 pods named '^nginx-'"
    [ "$status" -eq 0 ]
    run try "at most 5 times every 2s to get pods named '^nginx-' and verify that 'status' is 'running'"
    [ "$status" -eq 0 ]
}
