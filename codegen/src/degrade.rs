//! Graceful degradation around upstream generators (typify, progenitor) that take a whole
//! document and fail without saying which part they could not handle.
//!
//! [`culprits`] finds a small set of parts (component schemas, operations) whose removal lets
//! the generator succeed, by bisection: about `2·k·log₂ n` runs for `k` culprits among `n`
//! parts, and a single run when nothing fails.

/// Indices into `0..n` whose removal makes `ok` hold, or `None` when even removing every
/// part does not. `ok(removed)` runs the generator with the parts in `removed` taken out.
pub fn culprits(n: usize, mut ok: impl FnMut(&[usize]) -> bool) -> Option<Vec<usize>> {
    if ok(&[]) {
        return Some(Vec::new());
    }
    let all: Vec<usize> = (0..n).collect();
    if !ok(&all) {
        return None;
    }
    Some(within(&all, &[], &mut ok))
}

/// The parts of `range` that must be removed, given that removing `outside` and all of
/// `range` succeeds.
fn within(range: &[usize], outside: &[usize], ok: &mut impl FnMut(&[usize]) -> bool) -> Vec<usize> {
    if ok(outside) {
        return Vec::new();
    }
    if range.len() == 1 {
        return range.to_vec();
    }
    let (a, b) = range.split_at(range.len() / 2);
    let with_b: Vec<usize> = outside.iter().chain(b).copied().collect();
    let found_a = within(a, &with_b, ok);
    let with_a: Vec<usize> = outside.iter().chain(&found_a).copied().collect();
    let found_b = within(b, &with_a, ok);
    found_a.into_iter().chain(found_b).collect()
}

#[cfg(test)]
mod tests {
    use super::culprits;

    #[test]
    fn finds_the_parts_that_fail() {
        let bad = [3, 17, 18, 90];
        let mut runs = 0;
        let found = culprits(100, |removed| {
            runs += 1;
            bad.iter().all(|b| removed.contains(b))
        })
        .unwrap();
        let mut found = found;
        found.sort_unstable();
        assert_eq!(found, bad);
        assert!(runs < 80, "{runs} runs");
    }

    #[test]
    fn one_run_when_nothing_fails() {
        let mut runs = 0;
        assert_eq!(
            culprits(1000, |_| {
                runs += 1;
                true
            }),
            Some(vec![])
        );
        assert_eq!(runs, 1);
    }

    #[test]
    fn none_when_removing_everything_does_not_help() {
        assert_eq!(culprits(5, |_| false), None);
    }
}
