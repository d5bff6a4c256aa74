// IO thread pool: one io_context per thread.
#include "tern/net/io_context_pool.h"

#include <pthread.h>

namespace tern::net {
namespace {
thread_local bool t_in_io_thread = false;
thread_local const IoContextPool* t_pool = nullptr;  // the pool owning this thread
}

IoContextPool::IoContextPool(std::size_t threads, std::string name) : name_(std::move(name)) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (std::size_t i = 0; i < threads; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
  }
}

IoContextPool::~IoContextPool() { stop(); }

void IoContextPool::start() {
  if (started_) return;
  started_ = true;
  for (auto& ctx : contexts_) guards_.emplace_back(asio::make_work_guard(*ctx));
  for (std::size_t i = 0; i < contexts_.size(); ++i) {
    threads_.emplace_back([this, i] {
      t_in_io_thread = true;
      t_pool = this;
      std::string tname = name_ + "-" + std::to_string(i);
      pthread_setname_np(pthread_self(), tname.substr(0, 15).c_str());
      contexts_[i]->run();
    });
  }
}

void IoContextPool::stop() {
  if (!started_) return;
  started_ = false;
  guards_.clear();
  for (auto& ctx : contexts_) ctx->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  for (auto& ctx : contexts_) ctx->restart();
}

std::size_t IoContextPool::drain(std::size_t max_handlers) {
  if (started_) return 0;
  std::size_t total = 0;
  for (;;) {
    std::size_t ran = 0;
    for (auto& ctx : contexts_) {
      // A loop found empty stops itself (Asio's poll with no work): restart
      // it, so that work another loop's handler queues on it later still runs.
      ctx->restart();
      while (total + ran < max_handlers && ctx->poll_one() > 0) ++ran;
    }
    total += ran;
    if (ran == 0 || total >= max_handlers) return total;
  }
}

asio::io_context& IoContextPool::next() noexcept {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

bool IoContextPool::in_io_thread() noexcept { return t_in_io_thread; }
bool IoContextPool::owns_current_thread() const noexcept { return t_pool == this; }

}  // namespace tern::net
