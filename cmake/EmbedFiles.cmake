# Writes the files of a directory into a C source as byte arrays, for
# src/webui.c.  Run at build time by the rule in cmake/WebUI.cmake:
#
#   cmake -DSRC_DIR=web -DOUT=build/webui_files.c -P cmake/EmbedFiles.cmake
#
# CMake alone: no compiler-specific #embed, no xxd, nothing downloaded.
# Each array ends with a NUL that len does not count.

if(NOT SRC_DIR OR NOT OUT)
  message(FATAL_ERROR "usage: cmake -DSRC_DIR=DIR -DOUT=FILE.c -P EmbedFiles.cmake")
endif()

file(GLOB names RELATIVE ${SRC_DIR} ${SRC_DIR}/*)
list(SORT names)

set(body "/* Generated from ${SRC_DIR} by cmake/EmbedFiles.cmake: do not edit. */\n")
string(APPEND body "#include \"psabridge/webui.h\"\n\n")
set(table "")
string(REPEAT "0x..," 16 row) # 16 bytes a line (CMake regexes have no {n})
set(n 0)
foreach(name IN LISTS names)
  if(IS_DIRECTORY ${SRC_DIR}/${name})
    continue()
  endif()
  if(NOT name MATCHES "^[A-Za-z0-9._-]+$")
    message(FATAL_ERROR "${SRC_DIR}/${name}: only [A-Za-z0-9._-] in names")
  endif()
  if(name MATCHES "\\.html$")
    set(type "text/html; charset=utf-8")
  elseif(name MATCHES "\\.js$")
    set(type "text/javascript; charset=utf-8")
  elseif(name MATCHES "\\.css$")
    set(type "text/css; charset=utf-8")
  elseif(name MATCHES "\\.svg$")
    set(type "image/svg+xml")
  else()
    message(FATAL_ERROR "${SRC_DIR}/${name}: no content type for this file")
  endif()
  file(READ ${SRC_DIR}/${name} hex HEX)
  string(LENGTH "${hex}" len)
  math(EXPR len "${len} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "(${row})" "\\1\n\t" bytes "${bytes}")
  string(APPEND body "static const unsigned char webui_file_${n}[] = {\n\t${bytes}0x00};\n\n")
  string(APPEND table "\t{\"${name}\", \"${type}\", webui_file_${n}, ${len}},\n")
  math(EXPR n "${n} + 1")
endforeach()
string(APPEND body "const struct webui_file webui_files[] = {\n${table}};\n")
string(APPEND body "const size_t webui_nfiles = ${n};\n")
file(WRITE ${OUT} "${body}")
