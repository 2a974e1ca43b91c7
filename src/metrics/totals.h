#pragma once
// Counting on across a process hand-over (reload, binary upgrade): the old process passes its
// counters' and histograms' totals (Registry::totals) to its successor, which adds them to its
// own series of the same name and labels (Registry::addTotals), then, once it has drained, what
// it counted since (subtractTotals). Scrapes of the successor so never see a counter go back,
// and no request counted by either process is lost. Gauges are not passed: they are the present.
#include <string>
#include <string_view>
#include <vector>

#include "metrics/metrics.h"

namespace sg::metrics {

// A compact binary form for one machine (both processes share its byte order).
std::string encodeTotals(const std::vector<SeriesTotal>& totals);
// False with *error when `bytes` are not encodeTotals output; *totals then holds none.
bool decodeTotals(std::string_view bytes, std::vector<SeriesTotal>* totals, std::string* error);

// `now` minus `earlier`, series by series (a series absent from `earlier` counts whole; one
// whose histogram bounds changed, or that went down, is left out).
std::vector<SeriesTotal> subtractTotals(const std::vector<SeriesTotal>& now,
                                        const std::vector<SeriesTotal>& earlier);

}  // namespace sg::metrics
