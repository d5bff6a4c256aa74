// What the README's call-mode snippets assume: the Calculator of its
// "Five minutes" section and the usual headers.
#pragma once

#include <chrono>
#include <future>
#include <iostream>

#include "tern/client.h"
#include "tern/provider.h"

struct Calculator {
  virtual ~Calculator() = default;
  virtual int add(int a, int b) = 0;
};
TERN_SERVICE(Calculator, add)

int readme_snippet_count();
void run_readme_snippet(int i, tern::Proxy<Calculator> calc);
