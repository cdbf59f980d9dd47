// Catch2's entry point for every Catch2 program (the unit tier's and the kernel tier's); the test
// cases live in one file per area.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
