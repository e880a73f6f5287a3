// The reproj binary: the command line over the projections compiled in (projections/all.cpp).
#include "api/cli/cli.hpp"
#include "projections/all.hpp"

int main(int argc, char** argv) { return reproj::cli::main(argc, argv, reproj::projections::register_all); }
