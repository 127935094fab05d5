#!/usr/bin/env bats
# Commands and their checks, no cluster, for tests/cli_migrate.rs: bats runs this file, `precheck run` its
# conversion, and each test ends the same way in both. MIGRATE_WORD comes from the environment.
bats_require_minimum_version 1.5.0
GREETING="hello"

@test "a file beside the suite is read" {
    run cat "$BATS_TEST_DIRNAME/greeting.txt"
    [ "$status" -eq 0 ]
    [ "$output" = "$GREETING world" ]
    [[ "$output" == *"world"* ]]
    [[ $output =~ ^hello\ w.*d$ ]]
    [ -f "$BATS_TEST_DIRNAME/greeting.txt" ]
}

@test "programs that fail as expected" {
    run ls "$BATS_TEST_DIRNAME/absent"
    [ "$status" -ne 0 ]
    run -2 sh -c 'exit 2'
    false || true
    grep -q world "$BATS_TEST_DIRNAME/greeting.txt" >/dev/null 2>&1
}

@test "a failure both see" {
    run echo "it's here"
    [ "$output" = "it is here" ]
}

@test "a program that fails fails the test" {
    ls "$BATS_TEST_DIRNAME/absent"
}

@test "the environment" {
    run printenv MIGRATE_WORD
    [ "$output" = "$MIGRATE_WORD" ]
    [ "$MIGRATE_WORD" = "bird" ]
}

@test "skipped" {
    skip
    false
}
