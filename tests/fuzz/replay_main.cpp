// Runs the fuzz target over files and directories (the committed corpus) without libFuzzer, so the
// ordinary build replays every input the fuzzer ever kept.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path p{argv[i]};
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator{p}) {
        if (e.is_regular_file()) inputs.push_back(e.path());
      }
    } else {
      inputs.push_back(p);
    }
  }
  if (inputs.empty()) {
    std::cerr << "usage: reproj_fuzz_replay CORPUS_DIR|FILE...\n";
    return 2;
  }
  for (const auto& p : inputs) {
    std::ifstream in{p, std::ios::binary};
    const std::string bytes{std::istreambuf_iterator<char>{in}, {}};
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  std::cout << "replayed " << inputs.size() << " inputs\n";
  return 0;
}
