# Install rules, included from the top-level CMakeLists.txt after the
# psabridge target is defined:
#
#   include(cmake/Install.cmake)
#
# Layout (GNUInstallDirs; /usr as the example prefix):
#   /usr/bin/psabridge
#   /usr/share/man/man8/psabridge.8, /usr/share/man/man5/psabridge.cfg.5
#   /usr/share/psabridge/templates/   templates/*
#   /usr/share/psabridge/events/      tests/data/defensx/*.json, for
#                                     `psabridge check --events`
#   /usr/lib/systemd/system/psabridge.service
#   /etc/psabridge/psabridge.cfg      config/psabridge.cfg with its paths
#   /etc/psabridge/customers.csv      pointed at the installed files; both
#                                     only when the file does not exist
#
# The prefix may be changed at install time (`cmake --install B --prefix
# P`, as tests/install/test_install.sh does), so every absolute path that
# goes into a file is computed by the install script, not here.

include(GNUInstallDirs)

install(TARGETS psabridge RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/man/psabridge.8
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${PROJECT_SOURCE_DIR}/man/psabridge.cfg.5
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/templates/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/psabridge/templates)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/tests/data/defensx/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/psabridge/events
  FILES_MATCHING PATTERN "*.json")

if(EXISTS ${PROJECT_SOURCE_DIR}/config/systemd/psabridge.service)
  set(PSABRIDGE_INSTALL_UNIT ${PROJECT_SOURCE_DIR}/config/systemd/psabridge.service)
else()
  set(PSABRIDGE_INSTALL_UNIT "")
endif()

# The install-time part.  @VAR@ is filled in now; ${VAR} is left for the
# install script, where CMAKE_INSTALL_PREFIX is the prefix actually used.
string(CONFIGURE [==[
  # Absolute directory of a GNUInstallDirs directory, under the prefix used
  # now.  /etc goes where GNUInstallDirs puts it: /etc for the prefixes /
  # and /usr, /etc/opt/X for /opt/X, PREFIX/etc otherwise.
  function(psabridge_install_dir out dir kind)
    if(IS_ABSOLUTE "${dir}")
      set(abs "${dir}")
    elseif(kind STREQUAL "etc" AND CMAKE_INSTALL_PREFIX MATCHES "^/(usr/?)?$")
      set(abs "/${dir}")
    elseif(kind STREQUAL "etc" AND CMAKE_INSTALL_PREFIX MATCHES "^/opt/(.+)$")
      set(abs "/${dir}/opt/${CMAKE_MATCH_1}")
    else()
      set(abs "${CMAKE_INSTALL_PREFIX}/${dir}")
    endif()
    string(REGEX REPLACE "//+" "/" abs "${abs}")
    set(${out} "${abs}" PARENT_SCOPE)
  endfunction()

  # Replaces the one match of regex in var; a sample config that no longer
  # has the line is an error, not a config left pointing at the source tree.
  # (Counted without lists: the lines matched end in ";".)
  function(psabridge_install_rewrite var regex replacement)
    set(text "${${var}}")
    string(REGEX MATCH "${regex}" first "${text}")
    set(second "")
    if(NOT first STREQUAL "")
      string(FIND "${text}" "${first}" at)
      string(LENGTH "${first}" len)
      math(EXPR at "${at} + ${len}")
      string(SUBSTRING "${text}" ${at} -1 rest)
      string(REGEX MATCH "${regex}" second "${rest}")
    endif()
    if(first STREQUAL "" OR NOT second STREQUAL "")
      message(FATAL_ERROR "config/psabridge.cfg: expected exactly one "
        "match of \"${regex}\": update cmake/Install.cmake")
    endif()
    string(REGEX REPLACE "${regex}" "${replacement}" text "${text}")
    set(${var} "${text}" PARENT_SCOPE)
  endfunction()

  psabridge_install_dir(psabridge_etc "@CMAKE_INSTALL_SYSCONFDIR@" etc)
  psabridge_install_dir(psabridge_data "@CMAKE_INSTALL_DATADIR@" data)
  psabridge_install_dir(psabridge_bin "@CMAKE_INSTALL_BINDIR@" bin)
  set(psabridge_state "/var/lib/psabridge") # systemd StateDirectory=psabridge
  set(psabridge_etc_dest "$ENV{DESTDIR}${psabridge_etc}/psabridge")

  # The configuration, for the systemd unit: installed paths, the state in
  # StateDirectory, the tokens as the unit's credentials.
  file(READ "@PROJECT_SOURCE_DIR@/config/psabridge.cfg" cfg)
  psabridge_install_rewrite(cfg "state_dir = \"[^\"]*\";"
    "state_dir = \"${psabridge_state}\";")
  psabridge_install_rewrite(cfg "templates_dir = \"[^\"]*\";"
    "templates_dir = \"${psabridge_data}/psabridge/templates\";")
  psabridge_install_rewrite(cfg "token = \"file:[^\"]*admin\\.token\";[^\n]*"
    "token = \"cred:admin-token\";   # LoadCredential= in psabridge.service")
  psabridge_install_rewrite(cfg "token = \"file:[^\"]*defensx\\.token\";"
    "token = \"cred:defensx-token\";")
  psabridge_install_rewrite(cfg "path = \"[^\"]*tickets\\.jsonl\";"
    "path = \"${psabridge_state}/tickets.jsonl\";")
  string(REPLACE "scripts/quickstart creates the file."
    "From systemd: LoadCredential=." cfg "${cfg}")
  string(REPLACE "# Relative paths are relative to this file's directory.\n"
    "# Relative paths are relative to this file's directory.\n#\n# Installed by `cmake --install` from config/psabridge.cfg: the paths point\n# at the installed templates and at ${psabridge_state} (systemd's\n# StateDirectory=), the tokens are the systemd credentials defensx-token\n# and admin-token (LoadCredential= in psabridge.service).\n# See psabridge.cfg(5).\n"
    cfg "${cfg}")

  file(MAKE_DIRECTORY "${psabridge_etc_dest}")
  if(EXISTS "${psabridge_etc_dest}/psabridge.cfg")
    message(STATUS "Keeping: ${psabridge_etc_dest}/psabridge.cfg (exists)")
  else()
    message(STATUS "Installing: ${psabridge_etc_dest}/psabridge.cfg")
    file(WRITE "${psabridge_etc_dest}/psabridge.cfg" "${cfg}")
    file(CHMOD "${psabridge_etc_dest}/psabridge.cfg"
      FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
  if(EXISTS "${psabridge_etc_dest}/customers.csv")
    message(STATUS "Keeping: ${psabridge_etc_dest}/customers.csv (exists)")
  else()
    message(STATUS "Installing: ${psabridge_etc_dest}/customers.csv")
    file(COPY_FILE "@PROJECT_SOURCE_DIR@/config/customers.csv"
      "${psabridge_etc_dest}/customers.csv")
    file(CHMOD "${psabridge_etc_dest}/customers.csv"
      FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()

  # The unit names /usr/bin, /usr/share and /etc: point them at this prefix.
  if(NOT "@PSABRIDGE_INSTALL_UNIT@" STREQUAL "")
    file(READ "@PSABRIDGE_INSTALL_UNIT@" unit)
    string(REPLACE "/usr/bin/psabridge" "${psabridge_bin}/psabridge"
      unit "${unit}")
    string(REPLACE "/etc/psabridge/" "${psabridge_etc}/psabridge/"
      unit "${unit}")
    string(REPLACE "/usr/share/psabridge/" "${psabridge_data}/psabridge/"
      unit "${unit}")
    file(WRITE "@PROJECT_BINARY_DIR@/install/psabridge.service" "${unit}")
    # file(INSTALL) adds DESTDIR itself, as every install() rule relies on
    file(INSTALL "@PROJECT_BINARY_DIR@/install/psabridge.service"
      DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"
      PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
]==] PSABRIDGE_INSTALL_SCRIPT @ONLY)
install(CODE "${PSABRIDGE_INSTALL_SCRIPT}")
