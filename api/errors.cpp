#include "api/errors.hpp"

#include "api/response.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/authorizer.hpp"
#include "engine/errors.hpp"

namespace reproj::api {

Response json_error(http::status status, const std::string& code, const std::string& message) {
  return json_response(status, {{"error", code}, {"message", message}});
}

namespace {
Response with(Response res, const char* key, nlohmann::json value) {
  auto body = nlohmann::json::parse(res.body());
  body[key] = std::move(value);
  res.body() = body.dump();
  res.prepare_payload();
  return res;
}
}  // namespace

Response error_from_current_exception() {
  using namespace engine;
  try {
    throw;
  } catch (const HttpError& e) {
    auto res = json_error(e.status(), e.code(), e.what());
    if (e.status() == http::status::unauthorized) res.set(http::field::www_authenticate, "Bearer realm=\"reproj\"");
    return res;
  } catch (const RateLimited& e) {
    auto res = json_error(http::status::too_many_requests, "rate_limited", e.what());
    res.set(http::field::retry_after, std::to_string((e.wait().count() + 999) / 1000));
    return with(std::move(res), "retry_after_ms", e.wait().count());
  } catch (const VersionConflict& e) {
    return with(json_error(http::status::conflict, "version_conflict", e.what()), "actual_version", e.actual_version());
  } catch (const EventIdConflict& e) {
    return with(json_error(http::status::conflict, "event_id_conflict", e.what()), "event_id", e.event_id());
  } catch (const StateConflict& e) {
    auto res = json_error(http::status::conflict, "conflict", e.what());
    return e.holder() ? with(std::move(res), "rebuild_id", *e.holder()) : res;
  } catch (const IncompatibleDependents& e) {
    nlohmann::json dependents = nlohmann::json::array();
    for (const auto& d : e.dependents()) {
      dependents.push_back({{"kind", d.kind}, {"object", d.object}, {"problem", d.detail}});
    }
    return with(json_error(http::status::conflict, "dependent_objects", e.what()), "dependents", std::move(dependents));
  } catch (const UniqueViolation& e) {
    const auto& c = e.clashes().front();
    return json_response(http::status::conflict, {{"error", "unique_violation"},
                                                  {"message", e.what()},
                                                  {"projection", e.projection()},
                                                  {"table", c.table},
                                                  {"columns", c.columns},
                                                  {"value", nlohmann::json::parse(c.value_json)},
                                                  {"existing_key", c.existing_key}});
  } catch (const InlineProjectionStopped& e) {
    auto res = json_error(http::status::service_unavailable, "inline_projection_stopped", e.what());
    res.set(http::field::retry_after, "5");
    return with(std::move(res), "projection", e.projection());
  } catch (const InvalidEvent& e) {
    auto body = nlohmann::json{{"error", "invalid_event"},     {"message", e.what()},
                               {"event_index", e.index()},     {"event_type", e.event_type()},
                               {"field", e.field()},           {"expected", e.expected()},
                               {"projection", e.projection()}, {"version", e.version()}};
    return json_response(http::status::unprocessable_entity, body);
  } catch (const PoisonEvent& e) {
    // A rollback (or another swap) whose version cannot pass an event, under the stop policy.
    return with(json_error(http::status::conflict, "poison_event", e.what()), "global_position", e.global_position());
  } catch (const HistoryNotKept& e) {
    return json_error(http::status::bad_request, "history_not_kept", e.what());
  } catch (const HistoryPruned& e) {
    return with(json_error(http::status::gone, "history_pruned", e.what()), "horizon", e.horizon());
  } catch (const InvalidInput& e) {
    return json_error(http::status::bad_request, "invalid_input", e.what());
  } catch (const InvalidSpec& e) {
    nlohmann::json problems = nlohmann::json::array();
    for (const auto& p : e.problems()) problems.push_back({{"path", p.path}, {"message", p.message}});
    return with(json_error(http::status::unprocessable_entity, "invalid_spec", e.what()), "problems", std::move(problems));
  } catch (const InvalidSource& e) {
    nlohmann::json problems = nlohmann::json::array();
    for (const auto& p : e.problems()) problems.push_back({{"path", p.path}, {"message", p.message}});
    return with(json_error(http::status::unprocessable_entity, "invalid_source", e.what()), "problems", std::move(problems));
  } catch (const SourceBehind& e) {
    auto res = json_response(http::status::service_unavailable,
                             {{"error", "source_behind"}, {"message", e.what()}, {"source", e.source()}, {"lag", e.lag()}});
    res.set(http::field::retry_after, "1");
    return res;
  } catch (const ProjectionBuilding& e) {
    auto res = json_error(http::status::service_unavailable, "projection_building", e.what());
    res.set(http::field::retry_after, "5");
    return res;
  } catch (const UnknownProjection& e) {
    return json_error(http::status::not_found, "unknown_projection", e.what());
  } catch (const NotFound& e) {
    return json_error(http::status::not_found, "not_found", e.what());
  } catch (const ProjectionBehind& e) {
    auto res = json_response(http::status::service_unavailable,
                             {{"error", "projection_behind"}, {"message", e.what()}, {"watermark", e.watermark()},
                              {"wanted", e.wanted()}, {"lag", e.wanted() - e.watermark()}});
    res.set(http::field::retry_after, "1");
    return res;
  } catch (const LockTimeout& e) {
    auto res = json_error(http::status::service_unavailable, "busy", e.what());
    res.set(http::field::retry_after, "1");
    return res;
  } catch (const Interrupted& e) {
    auto res = json_error(http::status::service_unavailable, "interrupted", e.what());
    res.set(http::field::retry_after, "1");
    return res;
  } catch (const DatabaseUnavailable& e) {
    auto res = json_error(http::status::service_unavailable, "database_unavailable", e.what());
    res.set(http::field::retry_after, "1");
    return res;
  } catch (const UnsupportedDeployment& e) {  // refused at start; listed so no engine error falls through
    return json_error(http::status::service_unavailable, "unsupported_deployment", e.what());
  } catch (const std::exception& e) {
    // Anything else is a bug or an unexpected database state: log it, never crash the server.
    spdlog::error("internal error: {}", e.what());
    return json_error(http::status::internal_server_error, "internal", "internal error; see the server log");
  }
}

}  // namespace reproj::api
