"""What an exchange holds is given back however it ends: the circuit breaker's max_requests
slot and the upstream's count of active requests (the retry budget's base) are released
after a response the cache answers from a revalidation (a 304 freshening the stored copy),
not only after relayed responses and local replies."""
from conftest import qpath, wait_until
from test_cache import cache_gateway, expect, get


def test_revalidated_responses_release_the_breaker_request_slot(upstream, gateway):
    # max_requests 1: one leaked slot and every later request is refused with 503 (overflow).
    u, gw = cache_gateway(upstream, gateway, {"default_ttl": "60s"},
                          upstream_opts={"u1": {"circuit_breaker": {"max_requests": 1}}})
    t = qpath("/text/reval-slot", bytes=100, cache_control="no-cache", etag="v1")
    expect(get(gw, t), "MISS")
    for _ in range(4):  # each use revalidates (no-cache): the upstream answers 304
        expect(get(gw, t), "REVALIDATED")
    other = expect(get(gw, qpath("/text/after-reval", bytes=10)), "MISS")
    assert other.status == 200, other
    assert gw.metric("scalegate_rejected_requests_total", listener="public", reason="overflow") in (0, None)


def test_revalidated_responses_leave_no_request_counted_in_flight(upstream, gateway):
    u, gw = cache_gateway(upstream, gateway, {"default_ttl": "60s"},
                          upstream_opts={"u1": {"circuit_breaker": {"max_requests": 100}}})
    t = qpath("/text/reval-count", bytes=100, cache_control="no-cache", etag="v1")
    expect(get(gw, t), "MISS")
    for _ in range(3):
        expect(get(gw, t), "REVALIDATED")
    # Released when the exchange ends, which can be just after the client has the response
    # (a slow build reads the gauge first); a leak would stay at 1.
    def in_flight():
        return gw.metric("scalegate_upstream_concurrency", upstream="u1", limit="requests")
    assert wait_until(lambda: in_flight() == 0, 5), in_flight()
