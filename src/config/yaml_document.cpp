// Turning text into one YAML document, defensively. yaml-cpp 0.7 never consumes a stray ','
// at document level: YAML::LoadAll then loops forever allocating empty documents, and
// YAML::Load quietly returns an empty one. So the text is first run through the parser with
// a handler that only records where each document starts, stopping when one starts where
// the previous did (no progress); only then is the first document built as a tree.
#include <yaml-cpp/anchor.h>
#include <yaml-cpp/eventhandler.h>

#include <sstream>

#include "config/yaml_reader.h"

namespace sg::config::detail {

namespace {

class DocumentStarts : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;

  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Returns false (after reporting) when the text is not exactly one well-formed document.
bool checkDocuments(const std::string& text, ErrorSink& errors) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentStarts handler;
  while (parser.HandleNextDocument(handler)) {
    size_t count = handler.starts.size();
    if (count >= 2 && handler.starts[count - 1].pos == handler.starts[count - 2].pos) {
      const YAML::Mark& at = handler.starts.back();
      std::string what = at.pos >= 0 && static_cast<size_t>(at.pos) < text.size()
                             ? " " + quoted(text.substr(static_cast<size_t>(at.pos), 1))
                             : "";
      errors.add(at, "invalid YAML: unexpected" + what + " outside any list or map");
      return false;
    }
  }
  if (handler.starts.size() > 1) {
    errors.add(handler.starts[1],
               "only one YAML document is allowed, found " + std::to_string(handler.starts.size()));
    return false;
  }
  return true;
}

}  // namespace

std::optional<YAML::Node> parseDocument(const std::string& text, ErrorSink& errors) {
  try {
    if (!checkDocuments(text, errors)) return std::nullopt;
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    errors.add(e.mark, "invalid YAML: " + e.msg);
    return std::nullopt;
  }
}

}  // namespace sg::config::detail
