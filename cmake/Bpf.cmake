# bpf_object(NAME SOURCE [HEADERS ...])
# Compiles SOURCE with clang for the BPF target into NAME.bpf.o and generates the libbpf
# skeleton NAME.skel.h with bpftool. Defines an INTERFACE target NAME_skel whose include path
# holds the skeleton (and the shared ABI header folder).
find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
execute_process(COMMAND uname -m OUTPUT_VARIABLE BPF_HOST_ARCH OUTPUT_STRIP_TRAILING_WHITESPACE)
if(BPF_HOST_ARCH STREQUAL "x86_64")
  set(BPF_TARGET_ARCH x86)
elseif(BPF_HOST_ARCH STREQUAL "aarch64")
  set(BPF_TARGET_ARCH arm64)
else()
  set(BPF_TARGET_ARCH ${BPF_HOST_ARCH})
endif()
set(BPF_MULTIARCH_INCLUDE /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
# Every object may include the shared headers in bpf/ (the ABI, the maps): all depend on them.
file(GLOB BPF_SHARED_HEADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/bpf/*.h)

function(bpf_object name source)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${BPF_TARGET_ARCH}
            -Wall -Werror -I${PROJECT_SOURCE_DIR}/bpf -I${BPF_MULTIARCH_INCLUDE}
            -c ${CMAKE_CURRENT_SOURCE_DIR}/${source} -o ${obj}
    DEPENDS ${source} ${ARGN} ${BPF_SHARED_HEADERS}
    COMMENT "BPF ${source}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR} ${PROJECT_SOURCE_DIR}/bpf)
endfunction()
