cmake_minimum_required(VERSION 3.25)
# Extracts every ```cpp block preceded by "<!-- snippet -->" from README.md
# into a test source: each block becomes the body of one function taking the
# `calc` proxy the README's text assumes, so the README's examples are
# compiled and run by `make test` and cannot rot.
include(${CMAKE_CURRENT_LIST_DIR}/../helpers/extract_snippets.cmake)
tern_extract_snippets(${README} "<!-- snippet -->" snippet)
set(out "// Generated from README.md by tests/readme/snippets.cmake; do not edit.\n#include \"readme_preamble.h\"\n")
set(cases "")
foreach(i IN LISTS snippet_indexes)
  string(APPEND out "void readme_snippet_${i}(tern::Proxy<Calculator> calc) {\n${snippet_${i}_body}}\n")
  string(APPEND cases "    case ${i}: readme_snippet_${i}(calc); break;\n")
endforeach()
string(APPEND out "int readme_snippet_count() { return ${snippet_count}; }\n")
string(APPEND out "void run_readme_snippet(int i, tern::Proxy<Calculator> calc) {\n  switch (i) {\n${cases}  }\n}\n")
file(WRITE ${OUTPUT}.tmp "${out}")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
