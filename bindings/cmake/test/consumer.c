// SPDX-License-Identifier: GPL-2.0-or-later
// Built from the installed <meshcap/meshcap_c.h> alone, as C99.

#include <meshcap/meshcap_c.h>
#include <stdio.h>

int main(void) {
  meshcap_policy *policy = NULL;
  char *text = NULL;
  char *error = NULL;
  int rc = meshcap_policy_from_json(
      "{\"OutboundIPRangesInclude\": \"*\", \"InboundPortsInclude\": \"*\"}",
      &policy, &error);
  if (rc == MESHCAP_OK) {
    rc = meshcap_render(policy, "iptables-legacy", &text, &error);
  }
  if (rc != MESHCAP_OK) {
    fprintf(stderr, "%s: %s\n", meshcap_code_name(rc), error);
    meshcap_free(error);
    meshcap_policy_free(policy);
    return 1;
  }
  fputs(text, stdout);
  printf("c consumer: libmeshcap_c %s\n", meshcap_version());
  meshcap_free(text);
  meshcap_policy_free(policy);
  return 0;
}
