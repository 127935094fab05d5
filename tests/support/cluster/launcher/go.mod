// The launcher of Precheck's test cluster (standard library only). Built by tests/support/cluster/build.sh.
module precheck.test/launcher

go 1.24.0
