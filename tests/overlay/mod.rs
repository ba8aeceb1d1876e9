//! Helpers for the tests over HyParView partial views (`partial_view.rs`,
//! and `scale.rs` at 100,000 nodes): the overlay's links and components,
//! writes that spread, and the checks on a whole run.

use rumor::crdt::OrSet;
use rumor::gossip::ViewConfig;
use rumor::sim::Simulator;

/// Node `i`'s links (its active view).
pub(crate) fn links(sim: &Simulator<OrSet<u64>>, i: u32) -> &[u32] {
    sim.node(i)
        .members()
        .partial()
        .expect("a partial view")
        .active()
}

/// Connected components of the live nodes, a link counting both ways (a
/// push-pull exchange runs over a link whichever side holds it).
pub(crate) fn components(sim: &Simulator<OrSet<u64>>) -> usize {
    let n = sim.len() as usize;
    let mut undirected: Vec<Vec<u32>> = vec![Vec::new(); n];
    for i in (0..sim.len()).filter(|&i| sim.is_alive(i)) {
        for &j in links(sim, i) {
            if sim.is_alive(j) {
                undirected[i as usize].push(j);
                undirected[j as usize].push(i);
            }
        }
    }
    let mut seen = vec![false; n];
    let mut count = 0;
    for start in (0..sim.len()).filter(|&i| sim.is_alive(i)) {
        if seen[start as usize] {
            continue;
        }
        count += 1;
        seen[start as usize] = true;
        let mut stack = vec![start];
        while let Some(x) = stack.pop() {
            for &y in &undirected[x as usize] {
                if !seen[y as usize] {
                    seen[y as usize] = true;
                    stack.push(y);
                }
            }
        }
    }
    count
}

/// Writes `count` updates from spread-out live nodes, 100 ms apart, and
/// runs until all are everywhere (at most `within_ms`); returns the time
/// each took to reach its last node.
pub(crate) fn spread(sim: &mut Simulator<OrSet<u64>>, count: u32, within_ms: u64) -> Vec<u64> {
    let first = sim.updates().len();
    let mut written = 0;
    let mut k = 0u32;
    while written < count {
        let origin = k.wrapping_mul(7_919) % sim.len();
        k += 1;
        if !sim.is_alive(origin) {
            continue;
        }
        let value = u64::from(k) + 1_000_000 * (first as u64 + 1);
        if sim.update(origin, |s, me| s.insert(me, value)).is_some() {
            written += 1;
        }
        sim.run_for(100);
    }
    assert!(
        sim.run_until_delivered(within_ms),
        "updates still missing after {within_ms} ms"
    );
    let mut times: Vec<u64> = sim.updates()[first..]
        .iter()
        .filter_map(|u| u.latest_reach_ms())
        .collect();
    times.sort_unstable();
    times
}

/// Every live node's active and passive views are within their sizes (the
/// active one may hold one link over capacity: a `Short` request).
pub(crate) fn view_sizes_within_bounds(sim: &Simulator<OrSet<u64>>) {
    let config = ViewConfig::default();
    for i in (0..sim.len()).filter(|&i| sim.is_alive(i)) {
        let view = sim.node(i).members().partial().expect("a partial view");
        assert!(
            view.active().len() <= config.active + 1,
            "node {i}: {:?}",
            view.active()
        );
        assert!(view.passive().len() <= config.passive, "node {i}");
    }
}

/// The run lost nothing: every live node holds the same state, no write a
/// live node holds is missing anywhere, no write was lost everywhere, and
/// the state holds exactly the `sim.updates()` (each adds a distinct
/// element).
pub(crate) fn assert_every_write_everywhere(sim: &Simulator<OrSet<u64>>, what: &str) {
    assert!(sim.converged(), "{what}: states differ");
    let missing = sim.missing_writes();
    assert!(
        missing.is_empty(),
        "{what}: (update, node) missing: {missing:?}"
    );
    let lost = sim.lost_writes();
    assert!(
        lost.is_empty(),
        "{what}: writes no live node holds: {lost:?}"
    );
    let live = (0..sim.len())
        .find(|&i| sim.is_alive(i))
        .expect("a live node");
    assert_eq!(sim.state(live).len(), sim.updates().len(), "{what}");
}

/// A cluster that has just joined (`sim`) is one overlay in which nearly
/// every node has 4 or 5 links; writes reach every node along the tree
/// within 500 ms; a fifth of the nodes die and the survivors stay one
/// overlay, in which writes still reach every node within a second.
pub(crate) fn joined_overlay_converges_and_stays_one_after_a_fifth_die(
    sim: &mut Simulator<OrSet<u64>>,
) {
    let n = sim.len() as usize;
    assert_eq!(components(sim), 1);
    view_sizes_within_bounds(sim);
    let with_full_views = (0..sim.len()).filter(|&i| links(sim, i).len() >= 4).count();
    assert!(
        with_full_views * 100 >= n * 95,
        "{with_full_views} of {n} nodes have 4 or 5 links"
    );

    let times = spread(sim, 5, 2_000);
    // Hops × 1 ms along the tree; where links changed since the tree
    // formed, the next round's "I have" (100 ms) and a graft (20 ms).
    assert!(times.iter().all(|&t| t <= 500), "reach times {times:?} ms");
    assert_every_write_everywhere(sim, "after the joins");

    for i in (0..sim.len()).filter(|i| i % 5 == 3) {
        sim.crash(i);
    }
    sim.run_for(2_000);
    assert_eq!(components(sim), 1, "the survivors' links split");
    let times = spread(sim, 3, 5_000);
    assert!(
        times.iter().all(|&t| t <= 1_000),
        "reach times {times:?} ms"
    );
    assert_every_write_everywhere(sim, "after a fifth died");
}
