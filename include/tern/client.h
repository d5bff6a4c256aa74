// tern/client.h - the consumer runtime: IO threads, one multiplexed
// connection per provider endpoint, registries, and the references built on them.
//
//   tern::Client client;                                          // IO threads start here
//   auto calc = client.refer<Calculator>("tern://127.0.0.1:9090")  // registry
//                   .value();                                     // or direct://h:p,h:p
//   int sum = calc.call<&Calculator::add>(1, 2).value();
//
// Destroying the Client completes every pending call and ends every open
// stream with CANCELLED "consumer shut down" (completions still queued when
// its IO threads stop run on the destroying thread), and makes later calls
// and stream operations through its proxies and stream handles fail the
// same way at once (tern/stream.h). Thread safety: all methods may be called from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "tern/channel.h"
#include "tern/contract.h"
#include "tern/filter.h"
#include "tern/proxy.h"
#include "tern/reference.h"
#include "tern/reflection.h"
#include "tern/registry.h"

namespace tern {

namespace trace {
class Tracer;  // tern/trace/tracer.h
}

struct ClientOptions {
  // IO threads. 0 = number of cores.
  std::size_t io_threads = 0;
  // Connection settings shared by every channel (connect timeout 3 s,
  // heartbeat 10 s, frame limits, TLS to providers: channel.tls).
  ChannelOptions channel{};
  // Registry client settings (heartbeat, backoff, TLS to an embedded
  // registry: registry.tls).
  RegistryOptions registry{};
  // Names this consumer in the registry: the `application` parameter of the
  // consumer URL each reference registers (tern/registry.h). Default "" =
  // the program's name (/proc/self/comm).
  std::string application{};
  // Consumer filters, in order (tern/filter.h).
  std::vector<std::shared_ptr<ClientFilter>> filters{};
  // Distributed tracing (docs/tracing.md). True (default): a
  // trace::TraceClientFilter goes first in `filters`, so every call carries
  // W3C `traceparent`; spans are recorded when the tracer has an OTLP
  // endpoint or rpcz. False: no tracing filter (nothing sent, nothing recorded).
  bool tracing = true;
  // Where this client's spans go and how it samples. Null (default): the
  // trace::Tracer::global() of the moment the Client is created.
  std::shared_ptr<trace::Tracer> tracer{};
};

struct ClientCore;

class Client {
 public:
  // Starts the IO threads. A TLS file in options.channel.tls that does not
  // load is kept in status(): reference() and registry() then return it and
  // no call is made. Prefer create() to see it at once.
  explicit Client(ClientOptions options = {});
  // A client, or INVALID_ARGUMENT when options.channel.tls is enabled and a
  // certificate, key or CA file is missing or malformed (the message names
  // the file and gives OpenSSL's reason).
  static Result<std::unique_ptr<Client>> create(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // OK, or why this client cannot call (see the constructor).
  Status status() const;

  // A reference to `service` found through `registry_url` (tern://, zookeeper://,
  // etcd://, direct://). INVALID_ARGUMENT for a malformed URL, unknown scheme,
  // load balancer or serialization, or status() when that is not OK. Does not wait for providers: calls made
  // before any provider is known fail with UNAVAILABLE (see
  // Reference::wait_for_providers()).
  Result<std::shared_ptr<Reference>> reference(const std::string& service, std::string_view registry_url,
                                               ReferenceOptions options = {});

  // The typed form: the service name comes from TERN_SERVICE(I, ...).
  template <typename I>
  Result<Proxy<I>> refer(std::string_view registry_url, ReferenceOptions options = {}) {
    if (options.expected_contract.empty() && options.contract_check != "off") {
      options.expected_contract = encode_contracts(method_contracts(reflection::describe_interface<I>()));
    }
    auto ref = reference(std::string(ServiceTraits<I>::name), registry_url, std::move(options));
    if (!ref) return ref.status();
    return Proxy<I>(std::move(*ref));
  }

  // The registry for `url`, shared by every reference of this client.
  Result<std::shared_ptr<Registry>> registry(std::string_view url);

  ChannelPool& channels() noexcept;

 private:
  std::shared_ptr<ClientCore> core_;
};

}  // namespace tern
