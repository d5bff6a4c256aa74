// `tern config get|set|rm|watch <service>`: the service's dynamic
// configuration document in the registry (tern/governance.h,
// docs/governance.md "Dynamic configuration").
#include <fstream>
#include <filesystem>
#include <iostream>
#include <vector>
#include <iterator>
#include <sstream>
#include <thread>

#include "commands.h"
#include "tern/governance.h"
#include "tern/provider.h"

namespace tern::cli {

namespace {

// "# revision N" after the text (on its own line).
void print_document(const ConfigDocument& d) {
  std::cout << d.text;
  if (!d.text.empty() && d.text.back() != '\n') std::cout << "\n";
  std::cout << "# revision " << d.revision << (d.revision == 0 ? " (no document)" : "") << "\n";
}

}  // namespace

int run_config(const std::string& action, const std::string& registry_url, const std::string& service,
               const std::string& file, const RegistryOptions& ro) {
  std::string text;
  if (action == "set") {
    // Read and validated before the registry is even contacted: a bad
    // document is never stored.
    // At most one byte over the limit is read (the parser names the limit),
    // so /dev/zero or a wrong huge file cannot exhaust memory.
    auto read_capped = [&](std::istream& in) {
      std::vector<char> buf(kMaxGovernanceDocument + 1);
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      text.assign(buf.data(), static_cast<std::size_t>(in.gcount()));
    };
    if (file == "-") {
      read_capped(std::cin);
    } else {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(file, ec) && !std::filesystem::is_fifo(file, ec) &&
          !std::filesystem::is_character_file(file, ec)) {
        std::cerr << "error: '" << file << "' is not a file (nothing stored)\n";
        return 2;
      }
      std::ifstream in(file, std::ios::binary);
      if (!in) return fail(Status(StatusCode::kNotFound, "cannot read '" + file + "'"));
      read_capped(in);
    }
    auto parsed = parse_governance_config(text);
    if (!parsed) {
      std::cerr << "error: invalid configuration for " << service << " (nothing stored): "
                << parsed.status().message() << "\n";
      return 2;
    }
  }
  auto url = Url::parse(registry_url);
  if (!url) return fail(url.status());
  auto created = create_registry_any(*url, ro);
  if (!created) return fail(created.status());
  auto& reg = *created;
  if (action == "get") {
    auto d = reg->get_config(service);
    if (!d) return fail(d.status());
    print_document(*d);
    return 0;
  }
  if (action == "set") {
    if (Status s = reg->set_config(service, text); !s.is_ok()) return fail(s);
    auto d = reg->get_config(service);
    if (!d) return fail(d.status());
    std::cout << "stored the configuration of " << service << ": revision " << d->revision << "\n";
    return 0;
  }
  if (action == "rm") {
    if (Status s = reg->remove_config(service); !s.is_ok()) return fail(s);
    std::cout << "removed the configuration of " << service << "\n";
    return 0;
  }
  // watch: every push, until SIGINT/SIGTERM.
  auto watch = reg->watch_config(service, [](const std::string& s, const ConfigDocument& d) {
    std::cout << "push: " << s << "\n";
    print_document(d);
    std::cout.flush();
  });
  if (!watch) return fail(watch.status());
  install_stop_signals();
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  reg->unwatch_config(*watch);
  return 0;
}

}  // namespace tern::cli
