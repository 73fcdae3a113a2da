#include "data/text_table.h"

#include <cctype>
#include <charconv>
#include <fstream>

#include "engine/error.h"

namespace pleas::data {

namespace {
bool blank(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
}  // namespace

void Table::fail(const TableLine& l, const std::string& msg) const {
  PLEAS_FAIL(who, ": ", path, ":", l.lineno, ": ", msg, " in '", l.text, "'");
}

void Table::need(const TableLine& l, size_t n, const std::string& format) const {
  if (l.fields.size() < n) fail(l, "expected " + format);
}

int64_t Table::integer(const TableLine& l, size_t f) const {
  need(l, f + 1, std::to_string(f + 1) + " fields");
  const std::string& s = l.fields[f];
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size())
    fail(l, "field " + std::to_string(f + 1) + " '" + s + "' is not an integer");
  return v;
}

Table read_table(const std::string& path, const std::string& who, char comment) {
  std::ifstream in(path);
  PLEAS_CHECK(in.good(), who, ": cannot open ", path, " (missing or unreadable)");
  Table t{path, who, {}};
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    size_t b = 0, e = line.size();
    while (b < e && blank(line[b])) ++b;
    while (e > b && blank(line[e - 1])) --e;
    if (b == e || (comment != 0 && line[b] == comment)) continue;
    TableLine l{n, line.substr(b, e - b), {}};
    for (size_t i = 0; i < l.text.size();) {
      size_t j = i;
      while (j < l.text.size() && !blank(l.text[j])) ++j;
      l.fields.push_back(l.text.substr(i, j - i));
      while (j < l.text.size() && blank(l.text[j])) ++j;
      i = j;
    }
    t.lines.push_back(std::move(l));
  }
  return t;
}

std::string after_first_field(const TableLine& l) {
  size_t i = 0;
  while (i < l.text.size() && !blank(l.text[i])) ++i;
  while (i < l.text.size() && blank(l.text[i])) ++i;
  return l.text.substr(i);
}

}  // namespace pleas::data
