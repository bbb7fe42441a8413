"""Sighook replicas: fair shares, who keeps what, and the merged matrix (pure)."""

from __future__ import annotations

from sighook.replicas.share import fair_share, merge_market_data, plan_leases

UNIVERSE = [f"P{i}-USD" for i in range(10)]


def test_fair_share() -> None:
    assert fair_share(10, 1) == 10
    assert fair_share(10, 3) == 4
    assert fair_share(0, 2) == 0
    assert fair_share(5, 0) == 5


def test_single_replica_takes_everything() -> None:
    plan = plan_leases("r1", UNIVERSE, set(), replicas=1)
    assert plan.share == 10 and set(plan.try_in_order) == set(UNIVERSE) and not plan.release


def test_a_second_replica_makes_the_first_release_down_to_its_share() -> None:
    plan = plan_leases("r1", UNIVERSE, set(UNIVERSE), replicas=2)
    assert plan.share == 5 and len(plan.keep) == 5 and len(plan.release) == 5
    assert not plan.try_in_order
    assert set(plan.keep) | set(plan.release) == set(UNIVERSE)


def test_products_gone_from_the_universe_are_released() -> None:
    plan = plan_leases("r1", UNIVERSE[:3], {"P0-USD", "GONE-USD"}, replicas=1)
    assert "GONE-USD" in plan.release and "P0-USD" in plan.keep


def test_replicas_prefer_different_products() -> None:
    first = plan_leases("host-a:1", UNIVERSE, set(), replicas=2).try_in_order[:5]
    second = plan_leases("host-b:2", UNIVERSE, set(), replicas=2).try_in_order[:5]
    assert first != second  # rendezvous ranking differs per replica


def test_merge_keeps_live_peers_rows_and_drops_a_dead_replicas() -> None:
    previous = {"buy_sell_matrix": {"rows": {"A": "old-a", "B": "peer-b", "C": "dead-c"}, "skipped": {"D": "x"}}}
    mine = {"schema_version": 1, "buy_sell_matrix": {"rows": {"A": "new-a"}, "skipped": {}, "computed_at": "t"}}
    merged = merge_market_data(previous, mine, owned={"A"}, owned_by_others={"B", "D"})
    assert merged["buy_sell_matrix"]["rows"] == {"A": "new-a", "B": "peer-b"}
    assert merged["buy_sell_matrix"]["skipped"] == {"D": "x"}
    assert merged["buy_sell_matrix"]["computed_at"] == "t" and merged["schema_version"] == 1


def test_merge_with_one_replica_is_just_its_own_document() -> None:
    mine = {"buy_sell_matrix": {"rows": {"A": 1, "B": 2}, "skipped": {"C": "s"}}}
    merged = merge_market_data({"buy_sell_matrix": {"rows": {"Z": 9}}}, mine, owned={"A", "B", "C"},
                               owned_by_others=set())
    assert merged == mine
