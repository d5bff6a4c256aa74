cmake_minimum_required(VERSION 3.25)
# Extracts the ```cpp blocks of one docs/*.md page that follow a marker into
# a C++ file the docs test includes, so the pages' examples are compiled (and
# most of them run) by `make test` and cannot rot:
#   <!-- snippet -->          the block is a function body, run by the test
#   <!-- snippet: compile --> the block is a function body, compiled only
#   <!-- snippet: global -->  the block is copied at namespace scope
# Function bodies see `calc` (tern::Proxy<Calculator>), `client`
# (tern::Client&) and `impl` (std::shared_ptr<Calculator>); they may
# `return 1;` on an error. Inputs: DOC, NAME (identifier), OUTPUT.
include(${CMAKE_CURRENT_LIST_DIR}/../helpers/extract_snippets.cmake)
tern_extract_snippets(${DOC} "<!-- snippet" snippet)
set(out "// Generated from ${DOC} by tests/docs/doc_snippets.cmake; do not edit.\n")
set(table "")
set(index 0)  # function snippets only
foreach(i IN LISTS snippet_indexes)
  set(marker "${snippet_${i}_marker}")
  set(body "${snippet_${i}_body}")
  if(marker MATCHES "global")
    string(APPEND out "${body}\n")
  else()
    set(run true)
    if(marker MATCHES "compile")
      set(run false)
    endif()
    set(fn "${NAME}_snippet_${index}")
    string(APPEND out "int ${fn}([[maybe_unused]] tern::Proxy<Calculator> calc, [[maybe_unused]] tern::Client& client,\n"
                      "    [[maybe_unused]] const std::shared_ptr<Calculator>& impl) {\n  {\n${body}  }\n  return 0;\n}\n")
    string(APPEND table "      {\"${NAME}\", ${index}, ${run}, &${fn}},\n")
    math(EXPR index "${index} + 1")
  endif()
endforeach()
string(APPEND out "const std::vector<DocSnippet>& ${NAME}_snippets() {\n  static const std::vector<DocSnippet> all = {\n${table}  };\n  return all;\n}\n")
file(WRITE ${OUTPUT}.tmp "${out}")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
