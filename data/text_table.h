// Whitespace-separated text tables, the form in which published datasets ship their metadata
// (CUB's images.txt, Pets' annotations/trainval.txt, Tiny ImageNet's wnids.txt, ...): one record
// per line, fields separated by spaces or tabs. Every error names the file, the line and the reason.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pleas::data {

struct TableLine {
  int64_t lineno = 0;               // 1-based line number in the file
  std::string text;                 // the line without surrounding white space (and CR)
  std::vector<std::string> fields;  // split on runs of spaces and tabs
};

struct Table {
  std::string path, who;  // the file, and the reader's name that errors start with
  std::vector<TableLine> lines;

  // Throws "<who>: <path>:<line>: <msg...> in '<text>'".
  [[noreturn]] void fail(const TableLine& l, const std::string& msg) const;
  // At least n fields, else an error showing the expected `format`, e.g. "'<id> <path>'".
  void need(const TableLine& l, size_t n, const std::string& format) const;
  // Field f as a decimal integer (the whole field), else an error.
  int64_t integer(const TableLine& l, size_t f) const;
};

// The lines of `path`, blank lines skipped, and lines whose first non-blank character is
// `comment` (when not 0). A missing or unreadable file is an error "<who>: cannot open <path>".
Table read_table(const std::string& path, const std::string& who, char comment = 0);

// The text of a line after its first field (a class name that contains spaces, say).
std::string after_first_field(const TableLine& l);

}  // namespace pleas::data
