// Per-thread run delay from /proc/thread-self/schedstat; see run_delay.h.
#include "base/run_delay.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

namespace tern::base {
namespace {

// The calling thread's schedstat file, open for its life.
struct SchedstatFile {
  int fd = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  ~SchedstatFile() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::int64_t thread_run_delay_ns() noexcept {
  thread_local SchedstatFile file;
  if (file.fd < 0) return -1;
  char buf[96];
  ssize_t n = ::pread(file.fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = '\0';
  // "<time on cpu ns> <run delay ns> <timeslices>\n"
  char* end = nullptr;
  std::strtoll(buf, &end, 10);
  if (end == buf) return -1;
  char* start = end;
  long long delay = std::strtoll(start, &end, 10);
  if (end == start || delay < 0) return -1;
  return delay;
}

}  // namespace tern::base
