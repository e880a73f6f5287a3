#pragma once
// The reproj command line: serve, migrate, import, rebuild, status, work, generate.
//
// A team with C++ projections of its own builds its own binary against the installed package
// (find_package(reproj)) with a main of one line:
//   int main(int argc, char** argv) { return reproj::cli::main(argc, argv, my::register_projections); }

#include <functional>

#include "engine/registry.hpp"

namespace reproj::cli {

/// Fills the registry with every projection version the program knows.
using RegisterProjections = std::function<void(engine::ProjectionRegistry&)>;

/// Parses the command line, runs the subcommand, returns the process's exit status (0 ok, 1 failed,
/// 2 bad usage, 3 the database is reached through a transaction pooler).
int main(int argc, char** argv, const RegisterProjections& register_projections);

}  // namespace reproj::cli
