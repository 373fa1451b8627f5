// SPDX-License-Identifier: GPL-2.0-or-later
// The CNI_* variables a runtime sets for each invocation (CNI spec 1.1,
// section 2 "Parameters"), read and checked per command.

#ifndef MESHCAP_SRC_CNI_ENVIRONMENT_H_
#define MESHCAP_SRC_CNI_ENVIRONMENT_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "src/cni/error.h"

namespace meshcap::cni {

enum class Command { kAdd, kDel, kCheck, kStatus, kGc, kVersion };

std::string_view CommandName(Command c);

// getenv, or a map in tests.
using GetEnv = std::function<const char*(const char*)>;

struct CniEnvironment {
  Command command = Command::kVersion;
  std::string container_id;  // CNI_CONTAINERID
  std::string netns;         // CNI_NETNS
  std::string ifname;        // CNI_IFNAME
  std::string args_text;     // CNI_ARGS as given
  // CNI_ARGS split: "K8S_POD_NAMESPACE=default;IgnoreUnknown=1".
  std::map<std::string, std::string> args;

  // K8S_POD_NAMESPACE from CNI_ARGS, or "".
  std::string PodNamespace() const;
  // "default/web-1" (namespace/name) or the container ID, for logs.
  std::string PodLabel() const;
};

// Reads the variables. kErrInvalidEnvironment naming the variable when
// CNI_COMMAND is missing or unknown, when a variable the command needs is
// empty (ADD and CHECK: CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME; DEL:
// CNI_CONTAINERID, CNI_IFNAME), when CNI_CONTAINERID or CNI_IFNAME is
// malformed, or when CNI_ARGS is not KEY=VALUE pairs separated by ';'.
CniOr<CniEnvironment> ReadEnvironment(const GetEnv& getenv);

// The spec's rule for container IDs and network names: an alphanumeric
// first character, then alphanumerics, '_', '.' and '-'.
bool IsValidIdentifier(std::string_view s);

// A Linux interface name: 1-15 bytes, not "." or "..", no '/', ':' or
// blank.
bool IsValidInterfaceName(std::string_view s);

}  // namespace meshcap::cni

#endif  // MESHCAP_SRC_CNI_ENVIRONMENT_H_
