# SPDX-License-Identifier: Apache-2.0
# Run one libFuzzer target for a bounded time (cmake -P; registered by kms_add_fuzzer()).
# -DFUZZER=<exe> -DSEEDS=<source corpus dir> -DWORK=<build-tree corpus dir>
# -DARTIFACTS=<crash dir> -DSECONDS=<max_total_time>
# The seeds are copied into WORK first: libFuzzer adds the inputs it finds to its first corpus
# directory, and that must never be the source tree.
foreach(v FUZZER SEEDS WORK ARTIFACTS SECONDS)
	if(NOT DEFINED ${v})
		message(FATAL_ERROR "KmsRunFuzzer.cmake: -D${v}= is required")
	endif()
endforeach()
if(NOT SECONDS MATCHES "^[1-9][0-9]*$")
	message(FATAL_ERROR "KmsRunFuzzer.cmake: SECONDS must be a positive integer, not '${SECONDS}'")
endif()

file(MAKE_DIRECTORY "${WORK}" "${ARTIFACTS}")
file(COPY "${SEEDS}/" DESTINATION "${WORK}")

execute_process(
	COMMAND "${FUZZER}" -max_total_time=${SECONDS} -timeout=30 -print_final_stats=1
		"-artifact_prefix=${ARTIFACTS}/" "${WORK}"
	RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
	message(FATAL_ERROR "${FUZZER} failed (${rc}); reproduce with: ${FUZZER} ${ARTIFACTS}/<crash-file>")
endif()
