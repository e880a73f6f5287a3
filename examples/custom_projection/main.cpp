// The whole reproj command line and server (serve, migrate, import, rebuild, status, work), with
// this team's projection instead of the demo's.
#include <memory>

#include "api/cli/cli.hpp"
#include "balances.hpp"

int main(int argc, char** argv) {
  return reproj::cli::main(argc, argv, [](reproj::engine::ProjectionRegistry& registry) {
    registry.add(std::make_unique<balances::BalancesV1>());
  });
}
