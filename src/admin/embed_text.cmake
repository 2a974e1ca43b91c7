# Writes OUTPUT, a header declaring `inline constexpr std::string_view NAME` with the bytes of
# INPUT (a raw string literal; INPUT must not contain the delimiter `)sg_embed"`).
file(READ "${INPUT}" content)
string(FIND "${content}" ")sg_embed\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string delimiter )sg_embed\"")
endif()
file(WRITE "${OUTPUT}.tmp" "#pragma once\n// Generated from ${INPUT} at build time; edit that file.\n#include <string_view>\nnamespace sg::admin {\ninline constexpr std::string_view ${NAME} = R\"sg_embed(${content})sg_embed\";\n}  // namespace sg::admin\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
