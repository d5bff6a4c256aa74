// Dynamic configuration end to end (docs/governance.md "Dynamic
// configuration"), checked the same way against every registry backend
// (tests/registry_embedded, registry_zookeeper, registry_etcd): real
// providers and a real consumer announced in and subscribed through the
// registry at a URL (tern://, zookeeper://, etcd://), documents stored with
// the built `tern config` CLI, and the docs' worked example ("Worked example:
// canary and drain through the registry") read from docs/governance.md
// itself. Counts come from the providers (add() calls), revisions from the
// CLI's output and Reference::config_revision().
//
// Header-only; waits are bounded polls (wait_until.h), never fixed sleeps.
// Uses GoogleTest assertions: call from a TEST body. Each check leaves the
// registry as it found it (no document, no provider of Calculator), so one
// backend server can serve a whole suite.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "registry_embedded/registry_test_util.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/log.h"
#include "tern/provider.h"
#include "tern/registry.h"
#include "wait_until.h"
#include "warn_log.h"

namespace govtest {

using namespace std::chrono_literals;
using regtest::InProcessProvider;
using testsvc::Calculator;
using testutil::wait_until;

inline const std::string kCalc(tern::ServiceTraits<Calculator>::name);

inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream all;
  all << in.rdbuf();
  return all.str();
}

// The ```yaml blocks of the docs section that starts with `heading` (up to
// the next "## " or "### " heading).
inline std::vector<std::string> yaml_blocks_after(const std::string& doc, const std::string& heading) {
  std::vector<std::string> out;
  auto at = doc.find(heading);
  if (at == std::string::npos) return out;
  auto end = doc.find("\n## ", at + heading.size());
  auto next_h3 = doc.find("\n### ", at + heading.size());
  if (next_h3 < end) end = next_h3;
  const std::string open = "```yaml\n";
  for (auto p = doc.find(open, at); p != std::string::npos && p < end; p = doc.find(open, p)) {
    p += open.size();
    auto close = doc.find("```", p);
    out.push_back(doc.substr(p, close - p));
    p = close + 3;
  }
  return out;
}

// The two documents of docs/governance.md's "Worked example: canary and
// drain through the registry": step 1 (canary by tag), step 2 (drain).
inline std::vector<std::string> docs_canary_and_drain_documents() {
  return yaml_blocks_after(read_text_file(std::string(TERN_SOURCE_DIR) + "/docs/governance.md"),
                           "### Worked example: canary and drain through the registry");
}

inline void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

using testutil::WarnLog;

// Providers of testsvc::Calculator and one consumer around the registry at
// `registry_url`, plus the `tern config` CLI pointed at it. `heartbeat` is
// the providers' and consumer's registry heartbeat (ZooKeeper session
// timeout and etcd lease TTL are 3 heartbeats).
class Bench {
 public:
  explicit Bench(std::string registry_url, std::chrono::milliseconds heartbeat = 300ms)
      : registry_url_(std::move(registry_url)), heartbeat_(heartbeat) {
    tern::RegistryOptions ro;
    ro.heartbeat_interval = heartbeat_;
    ro.initial_backoff = 50ms;
    ro.max_backoff = 500ms;
    ro.request_timeout = 5s;
    auto url = tern::Url::parse(registry_url_);
    EXPECT_TRUE(url.has_value()) << registry_url_;
    if (url.has_value()) {
      auto reg = tern::create_registry_any(*url, ro);
      EXPECT_TRUE(reg.has_value()) << reg.status().to_string();
      if (reg.has_value()) store_ = *reg;
    }
    // A clean start on a backend shared by a suite: no document, no provider.
    if (store_) {
      EXPECT_TRUE(store_->remove_config(kCalc).is_ok());
      EXPECT_TRUE(wait_until(
          [&] {
            auto l = store_->lookup(kCalc);
            return l.has_value() && l->empty();
          },
          10s))
          << "providers of " << kCalc << " left from an earlier test";
    }
    tern::ClientOptions co;
    co.io_threads = 1;
    co.registry.heartbeat_interval = heartbeat_;
    client_ = std::make_unique<tern::Client>(co);
    scratch_ = ::testing::TempDir() + "tern_gov_" + std::to_string(::getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".yaml";
  }
  ~Bench() {
    client_.reset();
    providers_.clear();
    if (store_) (void)store_->remove_config(kCalc);
    std::remove(scratch_.c_str());
  }
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  const std::string& registry_url() const { return registry_url_; }
  // A Registry of its own on the same backend (direct reads and writes).
  tern::Registry& store() { return *store_; }

  InProcessProvider& add_provider(tern::ServiceOptions so) {
    providers_.push_back(std::make_unique<InProcessProvider>(registry_url_, std::move(so), heartbeat_));
    EXPECT_TRUE(providers_.back()->status.is_ok()) << providers_.back()->status.to_string();
    return *providers_.back();
  }

  // round_robin, no warm-up; returns once every provider added is in its directory.
  tern::Proxy<Calculator> refer() {
    tern::ReferenceOptions o;
    o.load_balance = "round_robin";
    o.warmup = 0ms;
    auto p = client_->refer<Calculator>(registry_url_, std::move(o));
    EXPECT_TRUE(p.has_value()) << p.status().to_string();
    if (!p.has_value()) return {};
    auto proxy = std::move(p).value();
    EXPECT_TRUE(wait_until([&] { return proxy.reference()->providers().size() == providers_.size(); }, 10s))
        << proxy.reference()->providers().size() << " of " << providers_.size() << " providers";
    return proxy;
  }

  // `tern config <args...> --registry URL`.
  testutil::CommandResult tern_config(std::vector<std::string> args) {
    std::vector<std::string> argv{regtest::binary("tern"), "config"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--registry");
    argv.push_back(registry_url_);
    return regtest::run_command(argv);
  }

  // The path `tern config set` reads (written by write_scratch()).
  const std::string& scratch() const { return scratch_; }
  void write_scratch(const std::string& yaml) { std::ofstream(scratch_) << yaml; }

  // Stores `yaml` with `tern config set`; returns the revision it printed (0 on failure).
  std::uint64_t cli_set(const std::string& yaml) {
    write_scratch(yaml);
    auto r = tern_config({"set", kCalc, scratch_});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::string prefix = "stored the configuration of " + kCalc + ": revision ";
    EXPECT_EQ(r.out.rfind(prefix, 0), 0u) << r.out;
    if (r.out.rfind(prefix, 0) != 0) return 0;
    return std::stoull(r.out.substr(prefix.size()));
  }

  // n calls add(i, 1), each checked.
  static void adds(tern::Proxy<Calculator>& calc, int n, const tern::CallOptions* options = nullptr) {
    for (int i = 0; i < n; ++i) {
      auto r = options ? calc.with(*options).call<&Calculator::add>(i, 1) : calc.call<&Calculator::add>(i, 1);
      ASSERT_TRUE(r.has_value()) << r.status().to_string();
      ASSERT_EQ(*r, i + 1);
    }
  }

 private:
  std::string registry_url_;
  std::chrono::milliseconds heartbeat_;
  std::shared_ptr<tern::Registry> store_;
  std::unique_ptr<tern::Client> client_;
  std::vector<std::unique_ptr<InProcessProvider>> providers_;
  std::string scratch_;
};

inline bool wait_revision(tern::Proxy<Calculator>& calc, std::uint64_t revision) {
  return wait_until([&] { return calc.reference()->config_revision() == revision; }, 10s);
}

// `tern config set/get/rm` move a running consumer's calls: set routes
// every add() to version 2.0; get prints it with its revision; an invalid
// document exits 2 and stores nothing; rm goes back to both providers.
inline void check_cli_set_get_rm(Bench& bench) {
  auto& v1 = bench.add_provider(regtest::service_options("1.0"));
  auto& v2 = bench.add_provider(regtest::service_options("2.0"));
  auto calc = bench.refer();
  Bench::adds(calc, 10);
  EXPECT_EQ(v1.impl->adds.load(), 5);
  EXPECT_EQ(v2.impl->adds.load(), 5);

  // Nothing stored yet.
  auto none = bench.tern_config({"get", kCalc});
  EXPECT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, "# revision 0 (no document)\n");

  const std::string yaml = "routes:\n  - \"condition: method = add => version = 2.0\"\n";
  auto rev = bench.cli_set(yaml);
  ASSERT_GT(rev, 0u);
  ASSERT_TRUE(wait_revision(calc, rev)) << calc.reference()->config_revision() << " != " << rev;
  Bench::adds(calc, 10);
  EXPECT_EQ(v1.impl->adds.load(), 5);
  EXPECT_EQ(v2.impl->adds.load(), 15);

  auto got = bench.tern_config({"get", kCalc});
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, yaml + "# revision " + std::to_string(rev) + "\n");

  // A bad document: exit code 2, the error, nothing stored, nothing changes.
  bench.write_scratch("routes:\n  - \"condition: method = add version\"\n");
  auto bad = bench.tern_config({"set", kCalc, bench.scratch()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.out, "");
  EXPECT_EQ(bad.err, "error: invalid configuration for " + kCalc +
                         " (nothing stored): line 2: routes[0]: condition rule ' method = add version': at position "
                         "14 ('version'): expected '=>' or '&'\n");
  auto still = bench.tern_config({"get", kCalc});
  EXPECT_EQ(still.out, yaml + "# revision " + std::to_string(rev) + "\n");
  EXPECT_EQ(calc.reference()->config_revision(), rev);
  Bench::adds(calc, 2);
  EXPECT_EQ(v1.impl->adds.load(), 5);
  EXPECT_EQ(v2.impl->adds.load(), 17);

  // rm: back to the reference's own options (both providers).
  auto rm = bench.tern_config({"rm", kCalc});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(rm.out, "removed the configuration of " + kCalc + "\n");
  ASSERT_TRUE(wait_revision(calc, 0)) << calc.reference()->config_revision();
  auto gone = bench.tern_config({"get", kCalc});
  EXPECT_EQ(gone.out, "# revision 0 (no document)\n");
  Bench::adds(calc, 10);
  EXPECT_EQ(v1.impl->adds.load(), 10);
  EXPECT_EQ(v2.impl->adds.load(), 22);
}

// `tern config watch` prints the current document, then every change.
inline void check_cli_watch(Bench& bench) {
  regtest::Child watch({regtest::binary("tern"), "config", "watch", kCalc, "--registry", bench.registry_url()});
  // Lines up to and including the next "# revision" line.
  auto next_push = [&] {
    std::string text;
    for (int i = 0; i < 20; ++i) {
      std::string line = watch.read_line(10s);
      text += line + "\n";
      if (line.empty() || line.rfind("# revision", 0) == 0) break;
    }
    return text;
  };
  EXPECT_EQ(next_push(), "push: " + kCalc + "\n# revision 0 (no document)\n");
  auto rev = bench.cli_set("retries: 1\n");
  EXPECT_EQ(next_push(), "push: " + kCalc + "\nretries: 1\n# revision " + std::to_string(rev) + "\n");
  ASSERT_EQ(bench.tern_config({"rm", kCalc}).exit_code, 0);
  EXPECT_EQ(next_push(), "push: " + kCalc + "\n# revision 0 (no document)\n");
}

// A document stored behind the CLI's back (Registry::set_config, no
// validation) that does not parse: every consumer logs the rejection, and
// the last good revision and its routing stay in force.
inline void check_consumer_keeps_last_good_document(Bench& bench) {
  auto& v1 = bench.add_provider(regtest::service_options("1.0"));
  auto& v2 = bench.add_provider(regtest::service_options("2.0"));
  auto calc = bench.refer();
  auto good = bench.cli_set("routes:\n  - \"condition: method = add => version = 2.0\"\n");
  ASSERT_GT(good, 0u);
  ASSERT_TRUE(wait_revision(calc, good));
  WarnLog log;
  ASSERT_TRUE(bench.store()
                  .set_config(kCalc,
                              "routes:\n  - \"condition: method = add => version = 1.0\"\n"
                              "  - \"condition: method = add version\"\n")
                  .is_ok());
  auto bad = bench.store().get_config(kCalc);
  ASSERT_TRUE(bad.has_value()) << bad.status().to_string();
  ASSERT_GT(bad->revision, good);
  // The consumer's line ("rejected by the provider" is the providers' own).
  const std::string line = log.wait_for("revision " + std::to_string(bad->revision) + " rejected (");
  EXPECT_EQ(line, "dynamic configuration of " + kCalc + ": revision " + std::to_string(bad->revision) +
                      " rejected (line 3: routes[1]: condition rule ' method = add version': at position 14 "
                      "('version'): expected '=>' or '&'); revision " +
                      std::to_string(good) + " stays in force");
  EXPECT_EQ(calc.reference()->config_revision(), good);
  Bench::adds(calc, 6);
  EXPECT_EQ(v1.impl->adds.load(), 0);
  EXPECT_EQ(v2.impl->adds.load(), 6);
  // `tern config get` shows what is stored (the rejected text), by revision.
  auto got = bench.tern_config({"get", kCalc});
  EXPECT_EQ(got.out, bad->text + "# revision " + std::to_string(bad->revision) + "\n");
}

// docs/governance.md "Worked example: canary and drain through the
// registry", the documents read from the page: two stable providers and a
// canary (tag=canary); step 1 only tagged calls reach the canary; step 2 the
// docs' 10.0.0.7:20880 (stable_a here) is drained by weight 0; step 3
// `tern config rm` gives every provider calls again.
inline void check_docs_canary_and_drain(Bench& bench) {
  auto blocks = docs_canary_and_drain_documents();
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[1].find("\"10.0.0.7:20880\": {weight: 0}") != std::string::npos, true) << blocks[1];
  auto& stable_a = bench.add_provider(regtest::service_options(""));
  auto& stable_b = bench.add_provider(regtest::service_options(""));
  tern::ServiceOptions canary_options;
  canary_options.parameters["tag"] = "canary";
  auto& canary = bench.add_provider(canary_options);
  auto orders = bench.refer();
  tern::CallOptions tester;
  tester.attachments = {{"tern.tag", "canary"}};

  // Step 1: only tagged calls reach the canary.
  auto rev1 = bench.cli_set(blocks[0]);
  ASSERT_GT(rev1, 0u);
  ASSERT_TRUE(wait_revision(orders, rev1));
  Bench::adds(orders, 4, &tester);
  Bench::adds(orders, 6);
  EXPECT_EQ(canary.impl->adds.load(), 4);
  EXPECT_EQ(stable_a.impl->adds.load(), 3);
  EXPECT_EQ(stable_b.impl->adds.load(), 3);

  // Step 2: the docs' 10.0.0.7:20880 is stable_a here: drained by weight 0.
  std::string drain = blocks[1];
  replace_all(drain, "10.0.0.7:20880", stable_a.address());
  auto rev2 = bench.cli_set(drain);
  EXPECT_GT(rev2, rev1);
  ASSERT_TRUE(wait_revision(orders, rev2));
  auto got = bench.tern_config({"get", kCalc});
  EXPECT_EQ(got.out, drain + "# revision " + std::to_string(rev2) + "\n");
  Bench::adds(orders, 5);
  Bench::adds(orders, 2, &tester);
  EXPECT_EQ(stable_a.impl->adds.load(), 3);  // no new call
  EXPECT_EQ(stable_b.impl->adds.load(), 8);
  EXPECT_EQ(canary.impl->adds.load(), 6);

  // Step 3: `tern config rm`: no routes, every provider again.
  auto rm = bench.tern_config({"rm", kCalc});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  ASSERT_TRUE(wait_revision(orders, 0));
  Bench::adds(orders, 9);
  EXPECT_EQ(stable_a.impl->adds.load(), 6);
  EXPECT_EQ(stable_b.impl->adds.load(), 11);
  EXPECT_EQ(canary.impl->adds.load(), 9);
}

}  // namespace govtest
