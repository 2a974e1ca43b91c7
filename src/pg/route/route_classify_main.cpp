// route_classify: prints the verdict for each statement text on stdin (texts separated by NUL
// bytes), one line each: "<replica|primary> <sticky 0|1> <overridable 0|1> <reason>". For the
// integration test that checks verdicts against a real PostgreSQL, and for looking by hand:
//   printf 'select 1\0update t set x = 1' | build/src/pg/route/route_classify
#include <iostream>
#include <iterator>
#include <string>

#include "pg/route/statement_class.h"

int main() {
  const std::string input(std::istreambuf_iterator<char>(std::cin), {});
  const sg::pg::route::FunctionAllowList functions;
  size_t begin = 0;
  while (begin <= input.size()) {
    size_t end = input.find('\0', begin);
    if (end == std::string::npos) end = input.size();
    const auto verdict =
        sg::pg::route::classifyStatement(input.substr(begin, end - begin), functions);
    std::cout << (verdict.target == sg::pg::route::Target::kPrimary ? "primary" : "replica") << ' '
              << verdict.sticky << ' ' << verdict.replica_overridable << ' ' << verdict.reason
              << '\n';
    begin = end + 1;
  }
  return 0;
}
