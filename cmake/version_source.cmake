# Writes OUTPUT: the C++ source of api/version.hpp's functions, with VERSION and the git commit of
# SOURCE_DIR ("unknown" outside a git checkout). Runs at every build; the file changes (and the
# binary relinks) only when the commit does.
execute_process(COMMAND git -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR commit STREQUAL "")
  set(commit "unknown")
endif()
execute_process(COMMAND git -C "${SOURCE_DIR}" status --porcelain --untracked-files=no
                OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT dirty STREQUAL "" AND NOT commit STREQUAL "unknown")
  string(APPEND commit "-dirty")
endif()
file(WRITE "${OUTPUT}.tmp" "#include \"api/version.hpp\"\n\nnamespace reproj::api {\n"
     "std::string_view version() { return \"${VERSION}\"; }\n"
     "std::string_view git_commit() { return \"${commit}\"; }\n}  // namespace reproj::api\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
