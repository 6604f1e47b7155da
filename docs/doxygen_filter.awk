# Doxygen INPUT_FILTER for Chorus headers: reads their plain `//` comments as
# documentation without changing the headers (see docs/Doxyfile).
#   - the comment block opening the file   -> the file's documentation
#   - a `//` line above a declaration       -> `///` (that declaration's docs)
#   - `code;  // text` at the end of a line -> `code;  ///< text` (member docs)
# Closing-brace comments (`}  // namespace x`) and URLs stay plain comments.
# Example lines indented in the comment (`//   code`) become Markdown code blocks.
function indent_code(l) {
  if (l ~ /^[ \t]*\/\/\/   /) sub(/\/\/\/   /, "///     ", l)
  return l
}
BEGIN { header = 1 }
{
  line = $0
  if (header) {
    if (line ~ /^\/\//) {
      if (NR == 1) print "/// @file"
      sub(/^\/\/ ?/, "/// ", line)
      print indent_code(line)
      next
    }
    header = 0
  }
  if (line ~ /^[ \t]*\/\/[^\/!]/ || line ~ /^[ \t]*\/\/$/) {
    sub(/\/\//, "///", line)
    line = indent_code(line)
  } else if (line !~ /^[ \t]*}/ && line !~ /^[ \t]*\/\// && match(line, /[;,{][ \t]+\/\/ /)) {
    line = substr(line, 1, RSTART + RLENGTH - 4) "///< " substr(line, RSTART + RLENGTH)
  }
  print line
}
