// SPDX-License-Identifier: GPL-2.0-or-later
//
// Runs a fuzz target over files, as libFuzzer would run its corpus, for
// builds without libFuzzer: each argument is a file or a directory of
// files. The ordinary test suite replays every target's seed corpus
// (tests/fuzz/corpus/<target>/) this way, so the targets build and their
// checks hold in every build.

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  int runs = 0;
  for (int i = 1; i < argc; ++i) {
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(argv[i])) {
      for (const auto& e : std::filesystem::directory_iterator(argv[i])) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
    } else {
      files.emplace_back(argv[i]);
    }
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "cannot read %s\n", f.c_str());
        return 2;
      }
      const std::string bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()),
                             bytes.size());
      ++runs;
    }
  }
  std::printf("%d inputs ran\n", runs);
  // A corpus that is not there would make this test pass vacuously.
  return runs > 0 ? 0 : 1;
}
