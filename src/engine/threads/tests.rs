//! The thread policy on made-up step times and on step times recorded on real machines
//! (`traces/`, written by `xgen-dev record-threads`; see `scripts/record-thread-traces.sh`).

use super::policy::{Policy, Slowdown, Tuning, BATCHES, TOKENS};
use super::{Live, ThreadUse, ThreadsNow};

/// Runs `steps` steps of `secs` seconds per token through `policy` from time `*now`, with
/// `others` CPUs (of as many as the policy's most) busy elsewhere; returns the counts chosen.
fn run(
    policy: &mut Policy,
    now: &mut f64,
    steps: usize,
    others: Option<f64>,
    mut secs: impl FnMut(usize) -> f64,
) -> Vec<usize> {
    (0..steps)
        .map(|_| {
            let free = others.map(|o| policy.max() as f64 - o);
            let threads = policy.threads(*now, free);
            let cost = secs(threads);
            *now += cost;
            policy.record(*now, threads, cost, 1);
            threads
        })
        .collect()
}

/// Two cores, quiet: 10 ms per token with two threads, 17 ms with one.
fn quiet(threads: usize) -> f64 {
    if threads >= 2 {
        0.010
    } else {
        0.017
    }
}

/// Two cores, one kept busy by another program: two threads collapse, one runs nearly as
/// fast as on a quiet machine.
fn one_busy(threads: usize) -> f64 {
    if threads >= 2 {
        0.250
    } else {
        0.019
    }
}

#[test]
fn the_first_step_runs_on_the_cores_that_are_free() {
    let mut policy = Policy::new(4, TOKENS);
    assert_eq!(policy.threads(0.0, Some(3.0)), 3);
    assert_eq!(policy.current(), (3, Some(Slowdown::Busy)));
    let mut policy = Policy::new(4, TOKENS);
    assert_eq!(
        policy.threads(0.0, Some(3.7)),
        4,
        "a little background work is no reason"
    );
    let mut policy = Policy::new(2, TOKENS);
    assert_eq!(policy.threads(0.0, Some(0.0)), 1, "never fewer than one");
    // Two hardware threads per core: a busy sibling leaves the core to one engine thread.
    let mut policy = Policy::new(4, TOKENS);
    assert_eq!(policy.threads(0.0, Some(8.0 - 3.0)), 4);
    let mut policy = Policy::new(2, TOKENS);
    assert_eq!(
        policy.threads(0.0, None),
        2,
        "without the idle time: all cores"
    );
}

#[test]
fn a_quiet_machine_keeps_every_core_and_never_probes() {
    let mut policy = Policy::new(2, TOKENS);
    let mut now = 0.0;
    let counts = run(&mut policy, &mut now, 2000, Some(0.05), quiet);
    assert!(counts.iter().all(|&n| n == 2), "{counts:?}");
    assert_eq!(policy.current(), (2, None));
}

#[test]
fn a_core_going_busy_is_left_at_the_next_step() {
    let mut policy = Policy::new(2, TOKENS);
    let mut now = 0.0;
    run(&mut policy, &mut now, 100, Some(0.0), quiet);
    // The idle time shows the other program: one step later the engine runs on one core.
    let counts = run(&mut policy, &mut now, 50, Some(1.0), one_busy);
    assert_eq!(counts[0], 1, "{counts:?}");
    assert!(
        counts.iter().all(|&n| n == 1),
        "no probes while the core stays busy"
    );
    assert_eq!(policy.current(), (1, Some(Slowdown::Busy)));
}

#[test]
fn slow_steps_back_off_where_the_idle_time_says_nothing() {
    let mut policy = Policy::new(2, TOKENS);
    let mut now = 0.0;
    run(&mut policy, &mut now, 100, None, quiet);
    let counts = run(&mut policy, &mut now, 40, None, one_busy);
    let slow_steps = counts.iter().take_while(|&&n| n == 2).count();
    assert!(slow_steps <= TOKENS.window, "{counts:?}");
    assert_eq!(policy.current(), (1, Some(Slowdown::Slow)));
    // Probes into the busy core cost one step each, and come ever more rarely.
    let counts = run(&mut policy, &mut now, 2000, None, one_busy);
    let probes = counts.iter().filter(|&&n| n == 2).count();
    assert!((1..=10).contains(&probes), "{probes} probes in {now:.1} s");
}

#[test]
fn a_moments_noise_on_a_quiet_machine_keeps_every_core() {
    // A quiet virtual machine: every core free by the idle time, yet now and then a few steps
    // run four times slower (the hypervisor, an interrupt). Bursts of up to five slow steps
    // keep both threads; slowness that lasts steps down all the same.
    for burst in 1..=5 {
        let mut policy = Policy::new(2, TOKENS);
        let mut now = 0.0;
        let mut step = 0usize;
        let counts = run(&mut policy, &mut now, 2000, Some(0.05), |threads| {
            step += 1;
            let noisy = step % 100 >= 100 - burst;
            quiet(threads) * if noisy { 4.0 } else { 1.0 }
        });
        assert!(counts.iter().all(|&n| n == 2), "burst {burst}: {counts:?}");
    }
    let mut policy = Policy::new(2, TOKENS);
    let mut now = 0.0;
    run(&mut policy, &mut now, 100, Some(0.05), quiet);
    let counts = run(&mut policy, &mut now, 40, Some(0.05), one_busy);
    let slow_steps = counts.iter().take_while(|&&n| n == 2).count();
    assert!(
        (TOKENS.window..=2 * TOKENS.window + 1).contains(&slow_steps),
        "{counts:?}"
    );
    assert_eq!(policy.current(), (1, Some(Slowdown::Slow)));
    // Where the idle time shows a program on the cores, one slow window is enough.
    let mut policy = Policy::new(2, TOKENS);
    let mut now = 0.0;
    run(&mut policy, &mut now, 100, Some(0.6), quiet);
    let counts = run(&mut policy, &mut now, 40, Some(0.6), one_busy);
    let slow_steps = counts.iter().take_while(|&&n| n == 2).count();
    assert!(slow_steps <= TOKENS.window, "{counts:?}");
}

#[test]
fn cores_coming_free_are_taken_back_within_a_probe() {
    let mut policy = Policy::new(2, TOKENS);
    let mut now = 0.0;
    run(&mut policy, &mut now, 300, Some(1.0), one_busy);
    assert_eq!(policy.current().0, 1);
    let counts = run(&mut policy, &mut now, 20, Some(0.0), quiet);
    let back = counts.iter().position(|&n| n == 2).expect("probes at once");
    assert!(back <= 1, "{counts:?}");
    assert!(counts[back..].iter().all(|&n| n == 2), "{counts:?}");
    assert_eq!(policy.current(), (2, None));
}

#[test]
fn a_probe_that_is_no_faster_is_dropped_and_waits_longer_each_time() {
    // A core half busy: two threads are no faster than one, and the idle time cannot tell.
    let shared = |threads: usize| if threads >= 2 { 0.020 } else { 0.018 };
    let mut policy = Policy::new(2, TOKENS);
    let mut now = 0.0;
    run(&mut policy, &mut now, 50, Some(0.4), quiet);
    run(&mut policy, &mut now, 50, Some(0.4), shared);
    assert_eq!(policy.current().0, 1, "slower than one thread: backed off");
    let counts = run(&mut policy, &mut now, 3000, Some(0.4), shared);
    let probe_steps = counts.iter().filter(|&&n| n == 2).count();
    // 55 s of steps: probes after 0.25, 0.5, 1, 2, 4, 8 and 16 s, then every 16 s.
    assert!(
        probe_steps <= 12 * TOKENS.probe_steps,
        "{probe_steps} probe steps"
    );
    assert_eq!(policy.current().0, 1);
}

#[test]
fn probing_a_very_slow_count_takes_a_small_share_of_the_time() {
    // One core busy and no idle time to say so: two threads take 2 s per token, one 20 ms. A
    // failed probe costs a whole slow step, so the next one waits twenty times that, not the
    // longest wait alone (16 s, which would spend a ninth of the time probing).
    let very_slow = |threads: usize| if threads >= 2 { 2.0 } else { 0.020 };
    let mut policy = Policy::new(2, TOKENS);
    let mut now = 0.0;
    let mut slow_secs = 0.0;
    while now < 600.0 {
        let threads = policy.threads(now, None);
        let cost = very_slow(threads);
        now += cost;
        policy.record(now, threads, cost, 1);
        if threads == 2 {
            slow_secs += cost;
        }
    }
    assert_eq!(policy.current(), (1, Some(Slowdown::Slow)));
    assert!(
        slow_secs <= now / 15.0,
        "{slow_secs:.1} s of {now:.1} s ran on the busy core"
    );
}

#[test]
fn free_cpus_hovering_at_a_threshold_do_not_restart_the_probes() {
    // Another program takes about half a core: the free CPUs read 1.4 and 1.6 in turn, so the
    // cap crosses from one thread to two at every other step, while two threads stay slower.
    let shared = |threads: usize| if threads >= 2 { 0.050 } else { 0.020 };
    let mut policy = Policy::new(2, TOKENS);
    let mut now = 0.0;
    let mut probes = 0;
    let mut step = 0usize;
    while now < 100.0 {
        let free = if step.is_multiple_of(2) { 1.4 } else { 1.6 };
        let threads = policy.threads(now, Some(free));
        let cost = shared(threads);
        now += cost;
        policy.record(now, threads, cost, 1);
        probes += usize::from(threads == 2);
        step += 1;
    }
    // The first steps, then probes after waits of 0.25, 0.5, 1, 2, 4, 8 and 16 s, then every
    // 16 s: about fifteen. A crossing counted as cores coming free would probe every few steps.
    assert!(probes <= 20, "{probes} steps on two threads in {now:.0} s");
    assert_eq!(policy.current().0, 1);
    // Cores really coming free (the free CPUs clearly above the failed probe's) are taken back
    // at once.
    let counts = run(&mut policy, &mut now, 10, Some(0.0), quiet);
    assert!(counts.iter().skip(1).all(|&n| n == 2), "{counts:?}");
}

#[test]
fn batches_may_share_a_busy_core_while_that_is_faster() {
    // Two cores, one kept busy by another program: prompt batches read faster with a thread on
    // the busy core too (149 against 130 tokens/s measured), unlike generation.
    let sharing_pays = |threads: usize| {
        if threads >= 2 {
            1.0 / 149.0
        } else {
            1.0 / 130.0
        }
    };
    let mut policy = Policy::new(2, BATCHES);
    let mut now = 0.0;
    let counts = run(&mut policy, &mut now, 6, Some(1.0), sharing_pays);
    assert_eq!(
        counts,
        [1, 2, 2, 2, 2, 2],
        "the first batch on the free core, the next probes one thread more and keeps it"
    );
    assert_eq!(policy.current(), (2, None));

    // Where the shared core costs more than it brings, the probe finds that and keeps one.
    let sharing_hurts = |threads: usize| if threads >= 2 { 0.030 } else { 0.008 };
    let mut policy = Policy::new(2, BATCHES);
    let mut now = 0.0;
    let counts = run(&mut policy, &mut now, 40, Some(1.0), sharing_hurts);
    assert_eq!(counts[..2], [1, 2]);
    // The next probe waits (twenty times what the failed one cost): none in 40 batches.
    assert_eq!(counts[2..], [1; 38], "{counts:?}");
    assert_eq!(policy.current(), (1, Some(Slowdown::Busy)));

    // Where sharing stops paying while two threads run (the other program grew), one thread
    // fewer is probed after three batches and kept.
    let mut policy = Policy::new(2, BATCHES);
    let mut now = 0.0;
    let counts = run(&mut policy, &mut now, 4, Some(1.0), sharing_pays);
    assert_eq!(counts, [1, 2, 2, 2]);
    let counts = run(&mut policy, &mut now, 130, Some(1.0), sharing_pays);
    assert!(counts.iter().all(|&n| n == 2), "{counts:?}");
    // Two minutes later the one-thread figure is stale: after three batches at two, it is
    // measured again.
    now += 130.0;
    let counts = run(&mut policy, &mut now, 40, Some(1.0), sharing_hurts);
    assert_eq!(counts[..4], [2, 2, 2, 1], "{counts:?}");
    assert!(
        counts[4..].iter().filter(|&&n| n == 2).count() <= 1,
        "{counts:?}"
    );
    assert_eq!(policy.current(), (1, Some(Slowdown::Slow)));

    // Every core busy: one thread; the load going away: the first batch after it probes two.
    let mut policy = Policy::new(2, BATCHES);
    let mut now = 0.0;
    let counts = run(&mut policy, &mut now, 3, Some(2.0), sharing_pays);
    assert_eq!(counts, [1, 1, 1]);
    assert_eq!(policy.current(), (1, Some(Slowdown::Busy)));
    let counts = run(&mut policy, &mut now, 3, Some(0.0), sharing_pays);
    assert_eq!(counts, [2, 2, 2]);
    assert_eq!(policy.current(), (2, None));
}

#[test]
fn batch_costs_growing_with_the_depth_are_not_a_slowdown() {
    let mut policy = Policy::new(2, BATCHES);
    let mut now = 0.0;
    let mut depth_cost = 0.004;
    for _ in 0..16 {
        let threads = policy.threads(now, Some(2.0));
        assert_eq!(threads, 2);
        now += depth_cost * 512.0;
        policy.record(now, threads, depth_cost * 512.0, 512);
        depth_cost *= 1.2;
    }
}

#[test]
fn describes_what_ran() {
    let ran = |first, last, fewest, slowdown| ThreadUse {
        prompt: 2,
        first,
        last,
        fewest,
        max: 2,
        fixed: false,
        slowdown,
    };
    let words = |u: ThreadUse| u.describe().unwrap_or_default();
    assert_eq!(words(ran(2, 2, 2, None)), "2 threads");
    assert_eq!(
        words(ran(2, 1, 1, Some(Slowdown::Busy))),
        "2→1 threads: the CPU is busy"
    );
    assert_eq!(
        words(ran(1, 1, 1, Some(Slowdown::Busy))),
        "1 of 2 threads: the CPU is busy"
    );
    assert_eq!(
        words(ran(2, 2, 1, Some(Slowdown::Slow))),
        "2→1→2 threads: the CPU was busy for a while"
    );
    assert_eq!(words(ran(1, 2, 1, Some(Slowdown::Busy))), "1→2 threads");
    let fixed = ThreadUse {
        fixed: true,
        max: 1,
        ..ran(1, 1, 1, None)
    };
    assert_eq!(words(fixed), "1 thread");
    assert_eq!(ThreadUse::default().describe(), None);
    let now = ThreadsNow {
        tokens: 1,
        batches: 2,
        max: 2,
        adaptive: true,
        slowdown: Some(Slowdown::Busy),
    };
    assert_eq!(now.describe(), "1 of 2 threads: the CPU is busy");
    assert_eq!(
        ThreadsNow {
            adaptive: false,
            ..now
        }
        .describe(),
        "1 thread (fixed)"
    );
    assert_eq!(Live::default().get(), None);
}

/// A trace: per moment, the CPUs other programs left free and the seconds per token each thread
/// count took then.
struct Trace {
    name: String,
    rows: Vec<(f64, Option<f64>, Vec<f64>)>,
    /// Tokens per step: 1 (generation) or 512 (prompt batches).
    step_tokens: usize,
}

impl Trace {
    fn parse(name: String, text: &str) -> Self {
        let mut rows = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let at: f64 = fields[0].parse().expect("time");
            let free = fields[1].parse().ok();
            let costs = fields[2..]
                .iter()
                .map(|f| f.parse().expect("a cost"))
                .collect();
            rows.push((at, free, costs));
        }
        assert!(!rows.is_empty(), "{name} is empty");
        let step_tokens = if name.contains("batches") { 512 } else { 1 };
        Self {
            name,
            rows,
            step_tokens,
        }
    }

    fn max(&self) -> usize {
        self.rows[0].2.len()
    }

    /// Tokens per second with `choose` picking each step's count, over the trace's time.
    fn replay(
        &self,
        mut choose: impl FnMut(f64, Option<f64>) -> usize,
        mut learn: impl FnMut(f64, usize, f64, usize),
    ) -> f64 {
        let start = self.rows[0].0;
        let end = self.rows[self.rows.len() - 1].0;
        let (mut now, mut row, mut tokens) = (start, 0, 0usize);
        while now < end {
            while row + 1 < self.rows.len() && self.rows[row + 1].0 <= now {
                row += 1;
            }
            let (_, free, costs) = &self.rows[row];
            let threads = choose(now, *free).clamp(1, costs.len());
            let cost = costs[threads - 1];
            now += cost * self.step_tokens as f64;
            tokens += self.step_tokens;
            learn(
                now,
                threads,
                cost * self.step_tokens as f64,
                self.step_tokens,
            );
        }
        tokens as f64 / (now - start)
    }

    fn adaptive(&self, tuning: Tuning, idle_time: bool) -> f64 {
        let policy = std::cell::RefCell::new(Policy::new(self.max(), tuning));
        self.replay(
            |now, free| policy.borrow_mut().threads(now, free.filter(|_| idle_time)),
            |now, threads, secs, tokens| policy.borrow_mut().record(now, threads, secs, tokens),
        )
    }

    fn fixed(&self, threads: usize) -> f64 {
        self.replay(|_, _| threads, |_, _, _, _| {})
    }

    /// Each step with the count that was fastest at that moment.
    fn best(&self) -> f64 {
        let rows = &self.rows;
        self.replay(
            |now, _| {
                let row = rows.iter().rposition(|r| r.0 <= now).unwrap_or(0);
                let costs = &rows[row].2;
                (0..costs.len())
                    .min_by(|&a, &b| costs[a].total_cmp(&costs[b]))
                    .map_or(1, |i| i + 1)
            },
            |_, _, _, _| {},
        )
    }
}

/// Where a set of traces was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Machine {
    /// Two cores that other builds kept busy (load average 12-15): one thread was the faster
    /// count throughout, busy loops or not.
    Shared,
    /// The same kind of machine with nothing else running: every core wins while no busy loop
    /// runs.
    Quiet,
}

const MACHINES: [Machine; 2] = [Machine::Shared, Machine::Quiet];

/// The traces recorded with `scripts/record-thread-traces.sh` (their first lines say where and
/// under which load).
fn trace(machine: Machine, name: &'static str) -> Trace {
    macro_rules! traces {
        ($($name:literal),*) => {
            match (machine, name) {
                $(
                    (Machine::Shared, $name) => {
                        include_str!(concat!("traces/shared-machine/", $name, ".txt"))
                    }
                    (Machine::Quiet, $name) => {
                        include_str!(concat!("traces/quiet-machine/", $name, ".txt"))
                    }
                )*
                (_, other) => panic!("no trace {other}"),
            }
        };
    }
    let text = traces!(
        "tokens-quiet",
        "tokens-busy",
        "tokens-appear",
        "batches-appear"
    );
    Trace::parse(format!("{machine:?} machine, {name}"), text)
}

/// Throughput of the policy against every fixed count and the best count at each moment.
fn report(trace: &Trace, tuning: Tuning, idle_time: bool) -> (f64, Vec<f64>, f64) {
    let auto = trace.adaptive(tuning, idle_time);
    let fixed: Vec<f64> = (1..=trace.max()).map(|n| trace.fixed(n)).collect();
    let best = trace.best();
    eprintln!(
        "{}{}: auto {auto:.1} tok/s, fixed {fixed:.1?}, best at each moment {best:.1}",
        trace.name,
        if idle_time { "" } else { " (no idle time)" }
    );
    (auto, fixed, best)
}

#[test]
fn a_trace_without_busy_loops_runs_as_fast_as_the_best_fixed_count() {
    for machine in MACHINES {
        let trace = trace(machine, "tokens-quiet");
        let (auto, fixed, _) = report(&trace, TOKENS, true);
        let most = fixed.iter().copied().fold(0.0, f64::max);
        assert!(auto >= 0.97 * most, "{auto:.1} against {most:.1}");
        let all = fixed[trace.max() - 1];
        if machine == Machine::Shared {
            // Even without busy loops of its own, one thread was the faster count there, as
            // it is wherever the cores are not free.
            assert!(
                auto >= 5.0 * all,
                "{auto:.1} against {all:.1} with every core"
            );
        } else {
            assert_eq!(most, all, "quiet: every core is the fastest count");
        }
        let (blind, _, _) = report(&trace, TOKENS, false);
        assert!(blind >= 0.8 * most, "{blind:.1} against {most:.1}");
    }
}

#[test]
fn a_busy_core_trace_runs_on_the_free_core() {
    for machine in MACHINES {
        let trace = trace(machine, "tokens-busy");
        let (auto, fixed, best) = report(&trace, TOKENS, true);
        let all = fixed[trace.max() - 1];
        assert!(auto >= 0.9 * best, "{auto:.1} against {best:.1}");
        assert!(
            auto >= BUSY_GAIN * all,
            "{auto:.1} against {all:.1} with every core"
        );
        // Without the idle time the step times find it too, more slowly.
        let (blind, _, _) = report(&trace, TOKENS, false);
        assert!(blind >= 0.7 * best, "{blind:.1} against {best:.1}");
    }
}

/// What the policy gains over a thread on every core in the busy-loop traces, at least.
const BUSY_GAIN: f64 = 2.0;

#[test]
fn load_appearing_and_going_away_is_followed_both_ways() {
    for machine in MACHINES {
        let trace = trace(machine, "tokens-appear");
        let best = follows(&trace, TOKENS, 0.85);
        let (blind, _, _) = report(&trace, TOKENS, false);
        assert!(blind >= 0.6 * best, "{blind:.1} against {best:.1}");
    }
}

#[test]
fn batches_follow_load_appearing_and_going_away() {
    for machine in MACHINES {
        follows(&trace(machine, "batches-appear"), BATCHES, 0.9);
    }
}

/// Asserts that the policy with the idle time runs `trace` at least `share` of the best count
/// at each moment and 0.97x the best fixed count; returns that best at each moment.
fn follows(trace: &Trace, tuning: Tuning, share: f64) -> f64 {
    let (auto, fixed, best) = report(trace, tuning, true);
    let most = fixed.iter().copied().fold(0.0, f64::max);
    assert!(auto >= share * best, "{auto:.1} against {best:.1}");
    assert!(
        auto >= 0.97 * most,
        "{auto:.1} against the best fixed count's {most:.1}"
    );
    best
}
