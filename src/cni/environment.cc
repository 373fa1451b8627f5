// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/cni/environment.h"

#include <cctype>
#include <vector>

#include "src/text.h"

namespace meshcap::cni {
namespace {

using internal::Quote;

std::string Get(const GetEnv& getenv, const char* name) {
  const char* v = getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

CniError Invalid(const std::string& msg, const std::string& details = {}) {
  return CniError{kErrInvalidEnvironment, msg, details};
}

}  // namespace

std::string_view CommandName(Command c) {
  switch (c) {
    case Command::kAdd:
      return "ADD";
    case Command::kDel:
      return "DEL";
    case Command::kCheck:
      return "CHECK";
    case Command::kStatus:
      return "STATUS";
    case Command::kGc:
      return "GC";
    case Command::kVersion:
      return "VERSION";
  }
  return "?";
}

bool IsValidIdentifier(std::string_view s) {
  if (s.empty() || !isalnum(static_cast<unsigned char>(s[0]))) return false;
  for (char ch : s) {
    if (!isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '.' &&
        ch != '-') {
      return false;
    }
  }
  return true;
}

bool IsValidInterfaceName(std::string_view s) {
  if (s.empty() || s.size() > 15 || s == "." || s == "..") return false;
  for (char ch : s) {
    if (ch == '/' || ch == ':' || isspace(static_cast<unsigned char>(ch)) ||
        ch == '\0') {
      return false;
    }
  }
  return true;
}

std::string CniEnvironment::PodNamespace() const {
  auto it = args.find("K8S_POD_NAMESPACE");
  return it == args.end() ? std::string() : it->second;
}

std::string CniEnvironment::PodLabel() const {
  auto ns = args.find("K8S_POD_NAMESPACE");
  auto name = args.find("K8S_POD_NAME");
  if (ns != args.end() && name != args.end()) {
    return ns->second + "/" + name->second;
  }
  return container_id;
}

CniOr<CniEnvironment> ReadEnvironment(const GetEnv& getenv) {
  CniEnvironment env;
  const std::string command = Get(getenv, "CNI_COMMAND");
  static constexpr Command kAll[] = {Command::kAdd,   Command::kDel,
                                     Command::kCheck, Command::kStatus,
                                     Command::kGc,    Command::kVersion};
  bool known = false;
  for (Command c : kAll) {
    if (command == CommandName(c)) {
      env.command = c;
      known = true;
    }
  }
  if (command.empty()) {
    return Invalid("required environment variable CNI_COMMAND is missing");
  }
  if (!known) {
    return Invalid("unknown CNI_COMMAND " + Quote(command),
                   "meshcap-cni serves ADD, DEL, CHECK, STATUS, GC and "
                   "VERSION");
  }
  env.container_id = Get(getenv, "CNI_CONTAINERID");
  env.netns = Get(getenv, "CNI_NETNS");
  env.ifname = Get(getenv, "CNI_IFNAME");
  env.args_text = Get(getenv, "CNI_ARGS");

  const bool pod_command = env.command == Command::kAdd ||
                           env.command == Command::kCheck ||
                           env.command == Command::kDel;
  if (pod_command) {
    std::vector<std::string> missing;
    if (env.container_id.empty()) missing.push_back("CNI_CONTAINERID");
    if (env.netns.empty() && env.command != Command::kDel) {
      missing.push_back("CNI_NETNS");
    }
    if (env.ifname.empty()) missing.push_back("CNI_IFNAME");
    if (!missing.empty()) {
      std::string names;
      for (const std::string& m : missing) {
        names += names.empty() ? m : ", " + m;
      }
      return Invalid("required environment variables missing for " +
                     std::string(CommandName(env.command)) + ": " + names);
    }
    if (!IsValidIdentifier(env.container_id)) {
      return Invalid("invalid CNI_CONTAINERID " + Quote(env.container_id),
                     "it must start with an alphanumeric character, "
                     "followed by alphanumerics, '_', '.' or '-'");
    }
    if (!IsValidInterfaceName(env.ifname)) {
      return Invalid("invalid CNI_IFNAME " + Quote(env.ifname),
                     "an interface name has 1 to 15 bytes, no '/', ':' or "
                     "blank, and is not '.' or '..'");
    }
  }
  // "K=V;K2=V2"; empty items (a trailing ';') are tolerated.
  std::string_view rest = env.args_text;
  while (!rest.empty()) {
    const size_t semi = rest.find(';');
    const std::string_view item = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view()
                                          : rest.substr(semi + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Invalid("invalid CNI_ARGS: " + Quote(item) + " is not KEY=VALUE",
                     "CNI_ARGS is KEY=VALUE pairs separated by ';'");
    }
    env.args[std::string(item.substr(0, eq))] =
        std::string(item.substr(eq + 1));
  }
  return env;
}

}  // namespace meshcap::cni
