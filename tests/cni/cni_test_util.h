// SPDX-License-Identifier: GPL-2.0-or-later
// What the meshcap-cni tests share: temporary directories, environment
// variables for a scope, and a listing of what a directory holds.

#ifndef MESHCAP_TESTS_CNI_CNI_TEST_UTIL_H_
#define MESHCAP_TESTS_CNI_CNI_TEST_UTIL_H_

#include <stdlib.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace meshcap::cni::testing {

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/meshcap-cni-test-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Sets (or, with nullopt, unsets) an environment variable for a scope.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::optional<std::string>& value)
      : name_(std::move(name)) {
    if (const char* old = getenv(name_.c_str())) old_ = old;
    if (value.has_value()) {
      setenv(name_.c_str(), value->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ~ScopedEnv() {
    if (old_.has_value()) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// Every file and directory below `dir`, relative to it, sorted.
inline std::vector<std::string> Tree(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    out.push_back(std::filesystem::relative(it->path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The files under a state directory that record something: not its
// directories, which stay, nor the pods' xtables lock.
inline std::vector<std::string> StateFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const std::string& f : Tree(dir)) {
    if (f != "cni/xtables.lock" &&
        !std::filesystem::is_directory(dir + "/" + f)) {
      out.push_back(f);
    }
  }
  return out;
}

}  // namespace meshcap::cni::testing

#endif  // MESHCAP_TESTS_CNI_CNI_TEST_UTIL_H_
