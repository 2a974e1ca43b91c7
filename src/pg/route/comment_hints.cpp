#include "pg/route/comment_hints.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

namespace sg::pg::route {

namespace {

// PostgreSQL's scan.l character classes (bytes >= 0x80 are letters there).
bool isIdentStart(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalpha(u) || c == '_' || u >= 0x80;
}
bool isIdentCont(char c) {
  return isIdentStart(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '$';
}

// An upper estimate of how deep a statement's parse tree can nest, without parsing: chains
// of operators and keywords nest left-deep (1+1+1..., UNION ALL chains) and parentheses nest;
// commas only widen a list. Each word or operator character counts one level in its comma-
// separated item; a parenthesised group adds its own estimate plus one.
class NestingEstimate {
 public:
  void word() { ++frames_.back().item_words; }
  void open() { frames_.emplace_back(); }
  void close() {
    if (frames_.size() == 1) return;  // unbalanced: the parser will say so
    const size_t inner = value(frames_.back());
    frames_.pop_back();
    frames_.back().item_groups = std::max(frames_.back().item_groups, inner + 1);
  }
  void comma() {
    Frame& frame = frames_.back();
    frame.best = value(frame);
    frame.item_words = frame.item_groups = 0;
  }
  void statementEnd() {
    while (frames_.size() > 1) close();
    max_ = std::max(max_, value(frames_.back()));
    frames_.back() = Frame{};
  }
  size_t result() {
    statementEnd();
    return max_;
  }

 private:
  struct Frame {
    size_t item_words = 0, item_groups = 0, best = 0;
  };
  static size_t value(const Frame& frame) {
    return std::max(frame.best, frame.item_words + frame.item_groups);
  }
  std::vector<Frame> frames_{Frame{}};
  size_t max_ = 0;
};

class CommentLexer {
 public:
  explicit CommentLexer(std::string_view sql) : sql_(sql) {}

  SqlScan run() {
    while (pos_ < sql_.size()) step();
    return {std::move(comments_), nesting_.result(), std::move(literals_)};
  }

 private:
  char at(size_t i) const { return i < sql_.size() ? sql_[i] : '\0'; }

  void step() {
    const char c = sql_[pos_];
    if (c == '-' && at(pos_ + 1) == '-') return lineComment();
    if (c == '/' && at(pos_ + 1) == '*') return blockComment();
    if (c == '\'') return literal([&] { quoted('\'', /*backslash_escapes=*/false, pos_ + 1); });
    if (c == '"') {
      nesting_.word();
      return quoted('"', false, pos_ + 1);
    }
    if (c == '$') return dollar();  // records its body as a literal
    if (isIdentStart(c)) return identifierOrPrefixedString();
    const bool leading_dot = c == '.' && std::isdigit(static_cast<unsigned char>(at(pos_ + 1)));
    if (std::isdigit(static_cast<unsigned char>(c)) || leading_dot)
      return literal([&] { number(); });
    if (c == '(') nesting_.open();
    if (c == ')') nesting_.close();
    if (c == ',') nesting_.comma();
    if (c == ';') nesting_.statementEnd();
    if (std::ispunct(static_cast<unsigned char>(c)) && std::strchr("(),;", c) == nullptr) {
      nesting_.word();
    }
    ++pos_;
  }

  void lineComment() {
    const size_t end = sql_.find_first_of("\r\n", pos_);
    const size_t stop = end == std::string_view::npos ? sql_.size() : end;
    comments_.push_back({pos_, stop});
    pos_ = stop;
  }

  void blockComment() {
    const size_t begin = pos_;
    int depth = 0;
    while (pos_ < sql_.size()) {
      if (sql_[pos_] == '/' && at(pos_ + 1) == '*') {
        ++depth;
        pos_ += 2;
      } else if (sql_[pos_] == '*' && at(pos_ + 1) == '/') {
        pos_ += 2;
        if (--depth == 0) break;
      } else {
        ++pos_;
      }
    }
    comments_.push_back({begin, pos_});
  }

  // A literal or identifier whose body starts at `body`; a doubled quote stays inside.
  void quoted(char quote, bool backslash_escapes, size_t body) {
    size_t i = body;
    while (i < sql_.size()) {
      if (backslash_escapes && sql_[i] == '\\') {
        i += 2;
      } else if (sql_[i] == quote) {
        if (at(i + 1) != quote) break;
        i += 2;
      } else {
        ++i;
      }
    }
    pos_ = std::min(i + 1, sql_.size());
  }

  // $1 (a parameter), $tag$ ... $tag$ or $$ ... $$ (a dollar-quoted body), or a lone $.
  void dollar() {
    size_t i = pos_ + 1;
    if (std::isdigit(static_cast<unsigned char>(at(i)))) {
      while (std::isdigit(static_cast<unsigned char>(at(i)))) ++i;
      pos_ = i;
      return;
    }
    if (isIdentStart(at(i))) {
      while (i < sql_.size() && isIdentCont(sql_[i]) && sql_[i] != '$') ++i;
    }
    if (at(i) != '$') {
      ++pos_;
      return;
    }
    const std::string_view tag = sql_.substr(pos_, i + 1 - pos_);
    const size_t close = sql_.find(tag, i + 1);
    const size_t begin = pos_;
    pos_ = close == std::string_view::npos ? sql_.size() : close + tag.size();
    literals_.push_back({begin, pos_});
  }

  // An identifier or keyword, or the prefix of E'..' (backslash escapes), B'..', X'..', N'..',
  // U&'..' and U&".." (the last two keep the doubled-quote rule).
  void identifierOrPrefixedString() {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(sql_[pos_])));
    if (at(pos_ + 1) == '\'') {
      if (c == 'e') return literal([&] { quoted('\'', true, pos_ + 2); });
      if (c == 'b' || c == 'x' || c == 'n') return literal([&] { quoted('\'', false, pos_ + 2); });
    }
    if (c == 'u' && at(pos_ + 1) == '&' && at(pos_ + 2) == '\'') {
      return literal([&] { quoted('\'', false, pos_ + 3); });
    }
    if (c == 'u' && at(pos_ + 1) == '&' && at(pos_ + 2) == '"') return quoted('"', false, pos_ + 3);
    nesting_.word();
    while (pos_ < sql_.size() && isIdentCont(sql_[pos_])) ++pos_;
  }

  // A numeric literal as PostgreSQL 15's scanner reads one: digits, a fraction unless the dot
  // starts ".." (or ".5" alone), an exponent only with its digits. Letters straight after are its
  // "trailing junk" error; they are skipped here.
  void number() {
    const auto digit = [&](size_t i) { return std::isdigit(static_cast<unsigned char>(at(i))); };
    const bool leading_dot = at(pos_) == '.';  // ".5"
    if (leading_dot) ++pos_;
    while (digit(pos_)) ++pos_;
    if (!leading_dot && at(pos_) == '.' && at(pos_ + 1) != '.') {
      ++pos_;
      while (digit(pos_)) ++pos_;
    }
    if (at(pos_) == 'e' || at(pos_) == 'E') {
      const size_t sign = (at(pos_ + 1) == '+' || at(pos_ + 1) == '-') ? 1 : 0;
      if (digit(pos_ + 1 + sign)) {
        pos_ += 1 + sign;
        while (digit(pos_)) ++pos_;
      }
    }
    while (pos_ < sql_.size() && isIdentStart(sql_[pos_])) ++pos_;
  }

  // Runs `read` (which moves pos_ past a constant) and records the constant's span.
  template <typename Read>
  void literal(Read read) {
    const size_t begin = pos_;
    read();
    literals_.push_back({begin, pos_});
  }

  std::string_view sql_;
  size_t pos_ = 0;
  std::vector<CommentSpan> comments_;
  std::vector<CommentSpan> literals_;
  NestingEstimate nesting_;
};

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trimmed(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

void applyItem(std::string_view item, CommentHints& hints) {
  if (equalsIgnoringCase(item, "primary")) {
    hints.route = RouteHint::kPrimary;
  } else if (equalsIgnoringCase(item, "replica")) {
    if (hints.route != RouteHint::kPrimary) hints.route = RouteHint::kReplica;
  }
  const size_t eq = item.find('=');
  if (eq == std::string_view::npos) return;
  const std::string_view key = trimmed(item.substr(0, eq));
  std::string_view value = trimmed(item.substr(eq + 1));
  if (equalsIgnoringCase(key, "shard")) {
    uint32_t shard = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), shard);
    if (error == std::errc() && end == value.data() + value.size()) hints.shard = shard;
  } else if (equalsIgnoringCase(key, "sharding_key")) {
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
      value = value.substr(1, value.size() - 2);
    }
    if (!value.empty()) hints.sharding_key = std::string(value);
  }
}

void applyComment(std::string_view body, CommentHints& hints) {
  body = trimmed(body);
  static constexpr std::string_view kPrefix = "scalegate:";
  if (body.size() < kPrefix.size() ||
      !equalsIgnoringCase(body.substr(0, kPrefix.size()), kPrefix)) {
    return;
  }
  body.remove_prefix(kPrefix.size());
  // Blanks around '=' are dropped first, so that items split on commas and blanks keep
  // "key = value" whole; a quoted value keeps its commas and blanks.
  std::string items;
  bool in_quote = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '\'') in_quote = !in_quote;
    if (!in_quote && std::isspace(static_cast<unsigned char>(c))) {
      const size_t next = body.find_first_not_of(" \t\r\n", i);
      const bool before_equals = next != std::string_view::npos && body[next] == '=';
      if (before_equals || (!items.empty() && items.back() == '=')) continue;
    }
    items += c;
  }
  size_t begin = 0;
  in_quote = false;
  for (size_t i = 0; i <= items.size(); ++i) {
    const bool at_end = i == items.size();
    if (!at_end && items[i] == '\'') in_quote = !in_quote;
    if (at_end ||
        (!in_quote && (items[i] == ',' || std::isspace(static_cast<unsigned char>(items[i]))))) {
      if (i > begin) applyItem(std::string_view(items).substr(begin, i - begin), hints);
      begin = i + 1;
    }
  }
}

}  // namespace

bool containsScalegate(std::string_view sql) {
  static constexpr std::string_view kWord = "scalegate";
  auto equal = [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == static_cast<unsigned char>(b);
  };
  return std::search(sql.begin(), sql.end(), kWord.begin(), kWord.end(), equal) != sql.end();
}

SqlScan scanSql(std::string_view sql) { return CommentLexer(sql).run(); }

std::vector<CommentSpan> findComments(std::string_view sql) { return scanSql(sql).comments; }

CommentHints findCommentHints(std::string_view sql) {
  if (!containsScalegate(sql)) return {};
  return hintsInComments(sql, findComments(sql));
}

CommentHints hintsInComments(std::string_view sql, const std::vector<CommentSpan>& comments) {
  CommentHints hints;
  if (comments.empty() || !containsScalegate(sql)) return hints;
  for (const CommentSpan& span : comments) {
    const std::string_view comment = sql.substr(span.begin, span.end - span.begin);
    if (comment.starts_with("--")) {
      applyComment(comment.substr(2), hints);
      continue;
    }
    // Each nested /* ... */ is a comment of its own: its text runs to the next delimiter.
    for (size_t open = comment.find("/*"); open != std::string_view::npos;
         open = comment.find("/*", open + 2)) {
      const std::string_view rest = comment.substr(open + 2);
      applyComment(rest.substr(0, std::min(rest.find("*/"), rest.find("/*"))), hints);
    }
  }
  return hints;
}

}  // namespace sg::pg::route
