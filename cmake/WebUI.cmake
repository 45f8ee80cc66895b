# The operator's web page (src/webui.c): the files of web/ are embedded in
# the binary when it is built, so an installed psabridge serves its page
# with nothing beside it.  Included from the top-level CMakeLists.txt after
# the psabridge_core target is defined.

file(GLOB PSABRIDGE_WEB_FILES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/web/*)
set(PSABRIDGE_WEB_C ${PROJECT_BINARY_DIR}/webui_files.c)
add_custom_command(
  OUTPUT ${PSABRIDGE_WEB_C}
  COMMAND ${CMAKE_COMMAND} -DSRC_DIR=${PROJECT_SOURCE_DIR}/web
    -DOUT=${PSABRIDGE_WEB_C} -P ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake
  DEPENDS ${PSABRIDGE_WEB_FILES} ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake
  COMMENT "Embedding web/ into webui_files.c"
  VERBATIM)
target_sources(psabridge_core PRIVATE src/webui.c ${PSABRIDGE_WEB_C})
