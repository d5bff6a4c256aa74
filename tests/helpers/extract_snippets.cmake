# The Markdown snippet extractor shared by tests/readme/snippets.cmake and
# tests/docs/doc_snippets.cmake (each turns the snippets into its own C++).
#
# tern_extract_snippets(<file> <marker> <prefix>) finds, in order, every
# occurrence of <marker> in <file> and the ```cpp block after it, and sets in
# the caller's scope:
#   <prefix>_count       how many were found
#   <prefix>_indexes     the list 0;1;...;count-1 (empty when none)
#   <prefix>_<i>_marker  the marker's comment up to its "-->", from <marker> on
#                        (e.g. "<!-- snippet compile "), for each index i
#   <prefix>_<i>_body    the block's code, up to and with its last newline
# One variable per body, not a list: code is full of semicolons.
function(tern_extract_snippets file marker prefix)
  file(READ ${file} text)
  set(index 0)
  set(indexes "")
  while(TRUE)
    string(FIND "${text}" "${marker}" pos)
    if(pos EQUAL -1)
      break()
    endif()
    string(SUBSTRING "${text}" ${pos} -1 text)
    string(FIND "${text}" "-->" close)
    string(SUBSTRING "${text}" 0 ${close} found)
    string(FIND "${text}" "```cpp\n" start)
    math(EXPR start "${start} + 7")
    string(SUBSTRING "${text}" ${start} -1 text)
    string(FIND "${text}" "```" end)
    string(SUBSTRING "${text}" 0 ${end} body)
    string(SUBSTRING "${text}" ${end} -1 text)
    set(${prefix}_${index}_marker "${found}" PARENT_SCOPE)
    set(${prefix}_${index}_body "${body}" PARENT_SCOPE)
    list(APPEND indexes ${index})
    math(EXPR index "${index} + 1")
  endwhile()
  set(${prefix}_count ${index} PARENT_SCOPE)
  set(${prefix}_indexes "${indexes}" PARENT_SCOPE)
endfunction()
