#include "pg/route/function_allow_list.h"

#include <algorithm>
#include <cctype>

namespace sg::pg::route {

namespace {

std::string lowered(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Grouped as the manual's chapter 9 sections are; see function_allow_list.h for the rule.
const std::vector<std::string_view> kReadOnly = {
    // aggregates (9.21) and window functions (9.22)
    "array_agg", "avg", "bit_and", "bit_or", "bit_xor", "bool_and", "bool_or", "corr", "count",
    "covar_pop", "covar_samp", "cume_dist", "dense_rank", "every", "first_value", "json_agg",
    "json_object_agg", "jsonb_agg", "jsonb_object_agg", "lag", "last_value", "lead", "max", "min",
    "mode", "nth_value", "ntile", "percent_rank", "percentile_cont", "percentile_disc", "range_agg",
    "range_intersect_agg", "rank", "regr_avgx", "regr_avgy", "regr_count", "regr_intercept",
    "regr_r2", "regr_slope", "regr_sxx", "regr_sxy", "regr_syy", "row_number", "stddev",
    "stddev_pop", "stddev_samp", "string_agg", "sum", "var_pop", "var_samp", "variance", "xmlagg",
    // math (9.3)
    "abs", "acos", "acosd", "asin", "asind", "atan", "atan2", "atan2d", "atand", "cbrt", "ceil",
    "ceiling", "cos", "cosd", "cosh", "cot", "cotd", "degrees", "div", "exp", "factorial", "floor",
    "gcd", "lcm", "ln", "log", "log10", "min_scale", "mod", "pi", "power", "radians", "random",
    "round", "scale", "sign", "sin", "sind", "sinh", "sqrt", "tan", "tand", "tanh", "trim_scale",
    "trunc", "width_bucket",
    // string, binary, pattern matching and formatting (9.4-9.8)
    "ascii", "bit_count", "bit_length", "btrim", "char_length", "character_length", "chr", "concat",
    "concat_ws", "convert", "convert_from", "convert_to", "decode", "encode", "format", "get_bit",
    "get_byte", "initcap", "left", "length", "like_escape", "lower", "lpad", "ltrim", "md5",
    "normalize", "is_normalized", "octet_length", "overlay", "parse_ident", "position",
    "quote_ident", "quote_literal", "quote_nullable", "regexp_count", "regexp_instr", "regexp_like",
    "regexp_match", "regexp_matches", "regexp_replace", "regexp_split_to_array",
    "regexp_split_to_table", "regexp_substr", "repeat", "replace", "reverse", "right", "rpad",
    "rtrim", "sha224", "sha256", "sha384", "sha512", "similar_escape", "split_part", "starts_with",
    "string_to_array", "string_to_table", "strpos", "substr", "substring", "to_ascii", "to_char",
    "to_date", "to_hex", "to_number", "to_timestamp", "translate", "unistr", "upper",
    // date/time (9.9)
    "age", "clock_timestamp", "date_bin", "date_part", "date_trunc", "extract", "isfinite",
    "justify_days", "justify_hours", "justify_interval", "make_date", "make_interval", "make_time",
    "make_timestamp", "make_timestamptz", "now", "overlaps", "statement_timestamp", "timeofday",
    "timezone", "transaction_timestamp",
    // enums, arrays, ranges (9.10, 9.19, 9.20)
    "array_append", "array_cat", "array_dims", "array_fill", "array_length", "array_lower",
    "array_ndims", "array_position", "array_positions", "array_prepend", "array_remove",
    "array_replace", "array_to_string", "array_upper", "cardinality", "enum_first", "enum_last",
    "enum_range", "isempty", "lower_inc", "lower_inf", "range_merge", "trim_array", "unnest",
    "upper_inc", "upper_inf",
    // JSON (9.16)
    "array_to_json", "json_array_elements", "json_array_elements_text", "json_array_length",
    "json_build_array", "json_build_object", "json_each", "json_each_text", "json_extract_path",
    "json_extract_path_text", "json_object", "json_object_keys", "json_populate_record",
    "json_populate_recordset", "json_strip_nulls", "json_to_record", "json_to_recordset",
    "json_typeof", "jsonb_array_elements", "jsonb_array_elements_text", "jsonb_array_length",
    "jsonb_build_array", "jsonb_build_object", "jsonb_each", "jsonb_each_text",
    "jsonb_extract_path", "jsonb_extract_path_text", "jsonb_insert", "jsonb_object",
    "jsonb_object_keys", "jsonb_path_exists", "jsonb_path_match", "jsonb_path_query",
    "jsonb_path_query_array", "jsonb_path_query_first", "jsonb_populate_record",
    "jsonb_populate_recordset", "jsonb_pretty", "jsonb_set", "jsonb_set_lax", "jsonb_strip_nulls",
    "jsonb_to_record", "jsonb_to_recordset", "jsonb_typeof", "row_to_json", "to_json", "to_jsonb",
    // text search (9.13), UUID (9.14), set-returning (9.25), comparison (9.2)
    "phraseto_tsquery", "plainto_tsquery", "setweight", "to_tsquery", "to_tsvector", "ts_headline",
    "ts_rank", "ts_rank_cd", "websearch_to_tsquery", "gen_random_uuid", "generate_series",
    "generate_subscripts", "num_nonnulls", "num_nulls",
    // system information and object sizes (9.26, 9.27.7)
    "col_description", "current_database", "current_schema", "current_schemas", "format_type",
    "has_column_privilege", "has_database_privilege", "has_function_privilege",
    "has_schema_privilege", "has_sequence_privilege", "has_table_privilege", "inet_client_addr",
    "inet_server_addr", "obj_description", "pg_backend_pid", "pg_collation_for", "pg_column_size",
    "pg_database_size", "pg_get_constraintdef", "pg_get_expr", "pg_get_functiondef",
    "pg_get_indexdef", "pg_get_viewdef", "pg_indexes_size", "pg_is_in_recovery",
    "pg_last_wal_replay_lsn", "pg_last_xact_replay_timestamp", "pg_postmaster_start_time",
    "pg_relation_size", "pg_size_bytes", "pg_size_pretty", "pg_table_is_visible", "pg_table_size",
    "pg_total_relation_size", "pg_typeof", "shobj_description", "to_regclass", "to_regproc",
    "to_regtype", "version",
    // casts written as calls
    "bool", "date", "float4", "float8", "int2", "int4", "int8", "interval", "json", "jsonb",
    "numeric", "text", "time", "timestamp", "timestamptz", "varchar"};

// Known to write: a replica hint cannot move a statement that calls them.
const std::vector<std::string_view> kWriting = {"lo_create",
                                                "lo_creat",
                                                "lo_from_bytea",
                                                "lo_import",
                                                "lo_put",
                                                "lo_unlink",
                                                "nextval",
                                                "pg_cancel_backend",
                                                "pg_create_restore_point",
                                                "pg_notify",
                                                "pg_reload_conf",
                                                "pg_switch_wal",
                                                "pg_terminate_backend",
                                                "setval",
                                                "txid_current",
                                                "pg_current_xact_id",
                                                "pg_advisory_xact_lock",
                                                "pg_advisory_xact_lock_shared",
                                                "pg_try_advisory_xact_lock",
                                                "pg_try_advisory_xact_lock_shared"};

// Change what later statements on the same session see: the client stays on the primary.
const std::vector<std::string_view> kSessionState = {"pg_advisory_lock",
                                                     "pg_advisory_lock_shared",
                                                     "pg_advisory_unlock",
                                                     "pg_advisory_unlock_all",
                                                     "pg_advisory_unlock_shared",
                                                     "pg_try_advisory_lock",
                                                     "pg_try_advisory_lock_shared",
                                                     "set_config"};

using NameSet = std::unordered_set<std::string_view>;

const NameSet& readOnlySet() {
  static const NameSet set(kReadOnly.begin(), kReadOnly.end());
  return set;
}
const NameSet& writingSet() {
  static const NameSet set(kWriting.begin(), kWriting.end());
  return set;
}
const NameSet& sessionStateSet() {
  static const NameSet set(kSessionState.begin(), kSessionState.end());
  return set;
}

}  // namespace

FunctionAllowList::FunctionAllowList(const std::vector<std::string>& extra) {
  for (const auto& name : extra) extra_.insert(lowered(name));
}

FunctionKind FunctionAllowList::lookup(std::string_view qualifier, std::string_view name) const {
  const std::string lower_name = lowered(name);
  const std::string lower_qualifier = lowered(qualifier);
  if (!lower_qualifier.empty() && extra_.count(lower_qualifier + "." + lower_name)) {
    return FunctionKind::kReadOnly;
  }
  // A call qualified with any schema but pg_catalog is a user function.
  if (!lower_qualifier.empty() && lower_qualifier != "pg_catalog") return FunctionKind::kUnknown;
  if (extra_.count(lower_name)) return FunctionKind::kReadOnly;
  if (readOnlySet().count(lower_name)) return FunctionKind::kReadOnly;
  if (writingSet().count(lower_name)) return FunctionKind::kWrites;
  if (sessionStateSet().count(lower_name)) return FunctionKind::kSessionState;
  return FunctionKind::kUnknown;
}

const std::vector<std::string_view>& builtinReadOnlyFunctions() { return kReadOnly; }
const std::vector<std::string_view>& builtinWritingFunctions() { return kWriting; }
const std::vector<std::string_view>& builtinSessionStateFunctions() { return kSessionState; }

}  // namespace sg::pg::route
