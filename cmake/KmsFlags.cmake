# SPDX-License-Identifier: Apache-2.0
# Compiler and linker flags for every target (STYLE.md section 10), included from the top
# CMakeLists.txt after the options KMS_WERROR, KMS_SANITIZE, KMS_FUZZ and KMS_TSAN are declared.
#
# - warnings: always on; -Werror with KMS_WERROR. Third-party headers (OpenSSL, CUnit, h2o,
#   msgpack-c) come from system include directories, where compilers do not warn.
# - hardening: each flag is probed, because gcc 12 and clang 14 differ (clang 14 has neither
#   -ftrivial-auto-var-init=zero without an opt-in flag nor -fzero-call-used-regs).
# - KMS_SANITIZE: ASan + UBSan, every finding fatal, _FORTIFY_SOURCE off (it hides bugs from ASan).
# - KMS_FUZZ (clang only): libraries get coverage instrumentation and ASan + UBSan;
#   kms_add_fuzzer() builds and registers one libFuzzer target.
# - KMS_TSAN (clang only): ThreadSanitizer on every target, _FORTIFY_SOURCE off; not with
#   KMS_SANITIZE or KMS_FUZZ (the runtimes exclude each other). tests/run's stage tsan runs the
#   threaded tests with it (TSAN_OPTIONS there; suppressions in tests/tsan.supp).
include_guard(GLOBAL)

include(CheckCCompilerFlag)
include(CheckLinkerFlag)
include(CheckPIESupported)

set(KMS_FUZZ_SECONDS 20 CACHE STRING "Seconds each fuzz target runs in ctest (label fuzz)")

if(KMS_FUZZ AND NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
	message(FATAL_ERROR "KMS_FUZZ needs clang (libFuzzer); configure with -DCMAKE_C_COMPILER=clang")
endif()
if(KMS_TSAN AND NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
	message(FATAL_ERROR "KMS_TSAN needs clang; configure with -DCMAKE_C_COMPILER=clang")
endif()
if(KMS_TSAN AND (KMS_SANITIZE OR KMS_FUZZ))
	message(FATAL_ERROR "KMS_TSAN excludes KMS_SANITIZE and KMS_FUZZ (one sanitizer runtime per build)")
endif()
if(KMS_SANITIZE OR KMS_FUZZ OR KMS_TSAN)
	set(KMS_SANITIZING ON)
else()
	set(KMS_SANITIZING OFF)
endif()

# explicit_bzero, MADV_DONTDUMP and MAP_ANONYMOUS are not declared under plain -std=c11.
add_compile_definitions(_DEFAULT_SOURCE)

# Warnings (STYLE.md section 10).
add_compile_options(
	-Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes
	-Wold-style-definition -Wvla -Wwrite-strings -Wimplicit-fallthrough -Wpointer-arith
	-Wcast-qual -Wconversion -Wsign-conversion -Wundef)
if(KMS_WERROR)
	add_compile_options(-Werror)
endif()

# kms_probe_c_flag(<flag>): add <flag> to every compile if the compiler accepts it.
function(kms_probe_c_flag flag)
	string(MAKE_C_IDENTIFIER "KMS_HAVE_CFLAG${flag}" var)
	check_c_compiler_flag("${flag}" ${var})
	if(${var})
		add_compile_options("${flag}")
	endif()
endfunction()

# kms_probe_link_flag(<flag>): add <flag> to every link if the linker accepts it.
function(kms_probe_link_flag flag)
	string(MAKE_C_IDENTIFIER "KMS_HAVE_LDFLAG${flag}" var)
	check_linker_flag(C "${flag}" ${var})
	if(${var})
		add_link_options("${flag}")
	endif()
endfunction()

# Hardening.
foreach(flag IN ITEMS
		-fstack-protector-strong -fstack-clash-protection -fcf-protection=full
		-ftrivial-auto-var-init=zero -fzero-call-used-regs=used-gpr)
	kms_probe_c_flag("${flag}")
endforeach()
foreach(flag IN ITEMS -Wl,-z,relro,-z,now -Wl,-z,noexecstack)
	kms_probe_link_flag("${flag}")
endforeach()

# _FORTIFY_SOURCE: some toolchains predefine a level, so undefine it first. Level 3 needs
# optimisation (glibc warns without it, an error under -Werror) and is off when sanitizing.
if(KMS_SANITIZING)
	add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=0)
else()
	check_c_compiler_flag("-D_FORTIFY_SOURCE=3" KMS_HAVE_FORTIFY3)
	if(KMS_HAVE_FORTIFY3)
		add_compile_options(
			"$<$<CONFIG:Release,RelWithDebInfo,MinSizeRel>:-U_FORTIFY_SOURCE>"
			"$<$<CONFIG:Release,RelWithDebInfo,MinSizeRel>:-D_FORTIFY_SOURCE=3>")
	endif()
endif()

# PIE: CMAKE_POSITION_INDEPENDENT_CODE (top level) gives -fPIE; this makes executables -pie.
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
check_pie_supported(OUTPUT_VARIABLE kms_pie_msg LANGUAGES C)
if(NOT CMAKE_C_LINK_PIE_SUPPORTED)
	message(WARNING "PIE is not supported by this toolchain: ${kms_pie_msg}")
endif()

set(KMS_SAN_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
if(KMS_FUZZ)
	# Every library and test gets coverage (fuzzer-no-link) and ASan + UBSan; only the
	# fuzz targets link libFuzzer's main (kms_add_fuzzer).
	add_compile_options(-fsanitize=fuzzer-no-link ${KMS_SAN_FLAGS})
	add_link_options(${KMS_SAN_FLAGS})
elseif(KMS_SANITIZE)
	add_compile_options(${KMS_SAN_FLAGS})
	add_link_options(${KMS_SAN_FLAGS})
elseif(KMS_TSAN)
	add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
	add_link_options(-fsanitize=thread)
endif()

# kms_add_fuzzer(<name> <source> [<lib>...]): a libFuzzer executable <name> built from
# <source> and linked with <lib>..., registered as the ctest test fuzz.<name> (label fuzz).
# The test copies the seeds of corpus/<name>/ (beside <source>) into the build tree and runs
# <name> on that copy for KMS_FUZZ_SECONDS; the source corpus is never written. Crash inputs
# land in <build>/artifacts/<name>/.
function(kms_add_fuzzer name source)
	if(NOT KMS_FUZZ)
		message(FATAL_ERROR "kms_add_fuzzer(${name}) needs -DKMS_FUZZ=ON")
	endif()
	add_executable(${name} ${source})
	target_compile_options(${name} PRIVATE -fsanitize=fuzzer ${KMS_SAN_FLAGS})
	target_link_options(${name} PRIVATE -fsanitize=fuzzer ${KMS_SAN_FLAGS})
	target_link_libraries(${name} PRIVATE ${ARGN})
	set(seeds "${CMAKE_CURRENT_SOURCE_DIR}/corpus/${name}")
	if(NOT IS_DIRECTORY "${seeds}")
		message(FATAL_ERROR "kms_add_fuzzer(${name}): no seed corpus at ${seeds}")
	endif()
	math(EXPR timeout "${KMS_FUZZ_SECONDS} * 2 + 120")
	add_test(NAME fuzz.${name}
		COMMAND ${CMAKE_COMMAND}
			-DFUZZER=$<TARGET_FILE:${name}>
			-DSEEDS=${seeds}
			-DWORK=${CMAKE_CURRENT_BINARY_DIR}/corpus/${name}
			-DARTIFACTS=${CMAKE_CURRENT_BINARY_DIR}/artifacts/${name}
			-DSECONDS=${KMS_FUZZ_SECONDS}
			-P ${PROJECT_SOURCE_DIR}/cmake/KmsRunFuzzer.cmake)
	set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT ${timeout})
endfunction()

# valgrind 3.19 (Debian 12) cannot read clang 14's default DWARF 5; the constant-time check
# (tests/ct) runs clang builds under valgrind too, so clang writes DWARF 4.
if(CMAKE_C_COMPILER_ID MATCHES "Clang")
	add_compile_options("$<$<CONFIG:Debug,RelWithDebInfo>:-gdwarf-4>")
endif()
