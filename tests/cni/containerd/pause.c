// SPDX-License-Identifier: GPL-2.0-or-later
//
// The sandbox ("pause") process of the containerd harness's pod image:
// holds the pod's namespaces and does nothing else until SIGTERM or SIGINT
// (containerd's StopPodSandbox), then exits 0. As PID 1 of the pod it also
// reaps any child it inherits. Built with `gcc -static` at test time, so
// the image needs no libc.

#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static void Stop(int sig) {
  (void)sig;
  _exit(0);
}

static void Reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction stop = {.sa_handler = Stop};
  struct sigaction reap = {.sa_handler = Reap, .sa_flags = SA_NOCLDSTOP};
  sigemptyset(&stop.sa_mask);
  sigemptyset(&reap.sa_mask);
  if (sigaction(SIGINT, &stop, NULL) != 0 ||
      sigaction(SIGTERM, &stop, NULL) != 0 ||
      sigaction(SIGCHLD, &reap, NULL) != 0) {
    return 1;
  }
  for (;;) pause();
}
