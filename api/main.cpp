// The reproj binary: the command line over the projections compiled in (projections/all.cpp).
#include "api/cli/cli.hpp"
#include "api/cli/huge_pages.hpp"
#include "projections/all.hpp"

int main(int argc, char** argv) {
  reproj::cli::reexec_with_huge_pages(argv);
  return reproj::cli::main(argc, argv, reproj::projections::register_all);
}
