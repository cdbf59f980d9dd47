// The unit tier's Catch2 entry point; the test cases live in one file per area.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
