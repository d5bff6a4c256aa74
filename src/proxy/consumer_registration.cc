// Consumer URLs in the registry. See consumer_registration.h.
#include "proxy/consumer_registration.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

#include "tern/log.h"

namespace tern {

namespace {

std::string local_ipv4() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "127.0.0.1";
  std::string found = "127.0.0.1";
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    if ((i->ifa_flags & IFF_LOOPBACK) != 0 || (i->ifa_flags & IFF_UP) == 0) continue;
    char text[INET_ADDRSTRLEN] = {};
    auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    if (inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text) != nullptr) {
      found = text;
      break;
    }
  }
  freeifaddrs(list);
  return found;
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return {};
  return name;
}

std::atomic<std::uint64_t> g_next_ref{1};

}  // namespace

std::string default_application_name() {
  std::ifstream in("/proc/self/comm");
  std::string name;
  std::getline(in, name);
  return name.empty() ? "tern" : name;
}

Url make_consumer_url(const std::string& service, const std::string& application, const ReferenceOptions& options) {
  static const std::string host = local_ipv4();
  static const std::string hostname = host_name();
  auto url = Url::parse("consumer://" + host + "/").value();
  url.set_path(service);
  url.set_param("application", application.empty() ? default_application_name() : application);
  if (!hostname.empty()) url.set_param("hostname", hostname);
  url.set_param("pid", std::to_string(::getpid()));
  url.set_param("ref", std::to_string(g_next_ref.fetch_add(1)));
  if (!options.version.empty()) url.set_param("version", options.version);
  if (!options.group.empty()) url.set_param("group", options.group);
  return url;
}

ConsumerRegistration::ConsumerRegistration(std::shared_ptr<Registry> registry, Url consumer)
    : registry_(std::move(registry)), url_(std::move(consumer)) {
  Status s = registry_->register_consumer(url_);
  // UNAVAILABLE: the backend keeps it and registers it once reachable (and
  // has logged the outage). UNIMPLEMENTED: a registry without consumers.
  registered_ = s.is_ok() || s.code() == StatusCode::kUnavailable;
  if (!registered_) TERN_LOG(kDebug, "consumer {} not registered: {}", url_.to_string(), s.to_string());
}

ConsumerRegistration::~ConsumerRegistration() {
  if (registered_) (void)registry_->unregister_consumer(url_);
}

}  // namespace tern
