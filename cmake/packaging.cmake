# Installation beyond the binaries (those, the systemd unit and the bash completion are installed
# by daemon/ and cli/), and the Debian package: `cpack -G DEB` in the build folder makes
# enforcer_<version>_<arch>.deb for Debian 12 (tests/package/deb_install.sh installs it into a
# bookworm chroot and checks every path below).
#
# The package is built for prefix /usr (CPACK_PACKAGING_INSTALL_PREFIX), whatever
# CMAKE_INSTALL_PREFIX the build was configured with. Two destinations are absolute because the
# programs name them: the configuration (enforcerd's default --config and the unit's ExecStart
# read /etc/enforcer/enforcer.toml) and the unit directory (systemd's own, from pkg-config; on
# Debian 12 /lib/systemd/system). A `cmake --install` elsewhere takes DESTDIR for those.

set(ENFORCER_CONFIG_DIR "/etc/enforcer" CACHE PATH
    "Where the configuration is installed (enforcerd reads /etc/enforcer/enforcer.toml by default)")
pkg_get_variable(_systemd_unit_dir systemd systemdsystemunitdir)
if(NOT _systemd_unit_dir)
  set(_systemd_unit_dir "/lib/systemd/system")
endif()
set(ENFORCER_SYSTEMD_UNIT_DIR "${_systemd_unit_dir}" CACHE PATH "systemd system unit directory")
set(ENFORCER_PACKAGE_CONTACT "enforcer maintainers <maintainers@example.org>" CACHE STRING
    "Maintainer field of the Debian package (set it to whoever publishes the package)")

# M-Lab's defaults; a conffile in the package (CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA below), so an
# operator's edits survive upgrades and dpkg asks before replacing them.
install(FILES ${PROJECT_SOURCE_DIR}/config/enforcer.toml DESTINATION ${ENFORCER_CONFIG_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/systemd/enforcerd.service
        DESTINATION ${ENFORCER_SYSTEMD_UNIT_DIR})

# Examples, the Prometheus rules and the Grafana dashboard are documentation: operators copy them
# into their own Prometheus and Grafana deployments.
install(FILES ${PROJECT_SOURCE_DIR}/config/examples/ndt-override.toml
              ${PROJECT_SOURCE_DIR}/config/examples/mlab-node-limits.toml
        DESTINATION share/doc/enforcer/examples)
# The fleet layout keeps its shape: the main file with enforcer.d/ beside it.
install(FILES ${PROJECT_SOURCE_DIR}/config/examples/fleet/enforcer.toml
        DESTINATION share/doc/enforcer/examples/fleet)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/config/examples/fleet/enforcer.d/
        DESTINATION share/doc/enforcer/examples/fleet/enforcer.d FILES_MATCHING PATTERN "*.toml")
install(FILES ${PROJECT_SOURCE_DIR}/config/prometheus/enforcer.rules.yml
              ${PROJECT_SOURCE_DIR}/config/prometheus/enforcer.rules_test.yml
        DESTINATION share/doc/enforcer/prometheus)
install(FILES ${PROJECT_SOURCE_DIR}/config/grafana/enforcer.json
        DESTINATION share/doc/enforcer/grafana)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/enforcer)
# The rest of the documentation, beside the README as in the source tree (its links into docs/).
install(FILES ${PROJECT_SOURCE_DIR}/docs/architecture.md
              ${PROJECT_SOURCE_DIR}/docs/policy.md
              ${PROJECT_SOURCE_DIR}/docs/configuration.md
              ${PROJECT_SOURCE_DIR}/docs/operations.md
              ${PROJECT_SOURCE_DIR}/docs/metrics.md
              ${PROJECT_SOURCE_DIR}/docs/testing.md
              ${PROJECT_SOURCE_DIR}/docs/performance.md
        DESTINATION share/doc/enforcer/docs)

# Man pages, compressed as Debian ships them (gzip -9n: no name or time stamp inside, so the
# package is reproducible).
set(_man_pages cli/enforcerctl.8 daemon/enforcerd.8 config/enforcer.toml.5)
set(_man_gz)
foreach(page ${_man_pages})
  get_filename_component(_name ${page} NAME)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" _section ${page})
  set(_gz ${PROJECT_BINARY_DIR}/man/${_name}.gz)
  add_custom_command(OUTPUT ${_gz}
                     COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
                     COMMAND gzip -9n -c ${PROJECT_SOURCE_DIR}/${page} > ${_gz}
                     DEPENDS ${PROJECT_SOURCE_DIR}/${page} VERBATIM)
  list(APPEND _man_gz ${_gz})
  install(FILES ${_gz} DESTINATION share/man/man${_section})
endforeach()
add_custom_target(man_pages ALL DEPENDS ${_man_gz})
# The pages cannot go stale silently: every option of `enforcerd --help` and every key the config
# parser accepts is documented, nothing else is, and every page renders without a warning.
add_test(NAME unit.man_pages
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/check-man-pages --enforcerd $<TARGET_FILE:enforcerd>
                 --daemon-page ${PROJECT_SOURCE_DIR}/daemon/enforcerd.8
                 --config-page ${PROJECT_SOURCE_DIR}/config/enforcer.toml.5
                 ${PROJECT_SOURCE_DIR}/cli/enforcerctl.8)
set_tests_properties(unit.man_pages PROPERTIES LABELS "unit;lint" TIMEOUT 60)

# --- the Debian package ---
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME enforcer)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${ENFORCER_PACKAGE_CONTACT}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "per-experiment resource allocations for M-Lab servers")
# The extended description (CPack puts the summary above it and indents it for the control file).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "enforcerd holds every experiment on a Measurement Lab server to its allocation:
network bandwidth averaged over a sliding window (eBPF on the uplink: short
bursts pass at line rate, a sustained sender is paced or policed to its share),
CPU, memory and disk I/O (cgroup v2 limits) and disk space (project quotas).
It exports per-experiment metrics for Prometheus. enforcerctl shows the state
and sets per-experiment overrides with an expiry, a reason and an audit trail.

The service is installed but not enabled: edit /etc/enforcer/enforcer.toml
(uplinks, experiments), then systemctl enable --now enforcerd.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://www.measurementlab.net/")
# Depends: from the shared libraries the binaries link (dpkg-shlibdeps, in dpkg-dev).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The conffile list and the hooks (packaging/debian/): the control group, systemd's view of the
# unit, a stop on removal; see the comments in each.
set(_deb_dir ${PROJECT_SOURCE_DIR}/packaging/debian)
file(WRITE ${PROJECT_BINARY_DIR}/packaging/conffiles "${ENFORCER_CONFIG_DIR}/enforcer.toml\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_BINARY_DIR}/packaging/conffiles
    ${_deb_dir}/postinst ${_deb_dir}/prerm ${_deb_dir}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
