//! CPU time the hypervisor gave to other guests while the benchmark ran (`steal` in
//! `/proc/stat`). On a virtual machine whose host is busy, every row slows while it lasts —
//! ours and the baseline's alike only if they share the same seconds — so the table says
//! how much was stolen during each row: a row above a few percent did not run on a quiet
//! machine.

/// The machine's aggregate CPU time, in clock ticks, at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Ticks {
    steal: u64,
    total: u64,
}

impl Ticks {
    /// The `cpu` line of `/proc/stat`; zero where there is none (not Linux).
    fn now() -> Ticks {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| stat.lines().next().map(Ticks::parse))
            .unwrap_or_default()
    }

    /// `cpu  user nice system idle iowait irq softirq steal guest guest_nice`: guest time is
    /// already counted in user time, so the total is the first eight.
    fn parse(line: &str) -> Ticks {
        let fields: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        Ticks {
            steal: fields.get(7).copied().unwrap_or(0),
            total: fields.iter().sum(),
        }
    }

    /// Percent of the CPU time since `earlier` that was stolen.
    fn stolen_since(self, earlier: Ticks) -> f64 {
        let stolen = self.steal.saturating_sub(earlier.steal) as f64;
        100.0 * crate::ratio(stolen, self.total.saturating_sub(earlier.total) as f64)
    }
}

/// What was stolen over the whole run and during each row.
pub struct Steal {
    start: Ticks,
    row_start: Ticks,
    rows: Vec<(&'static str, f64)>,
}

impl Steal {
    pub fn start() -> Steal {
        let now = Ticks::now();
        Steal {
            start: now,
            row_start: now,
            rows: Vec::new(),
        }
    }

    /// Ends the row that began when the last one ended (or the run began).
    pub fn row(&mut self, name: &'static str) {
        let now = Ticks::now();
        self.rows.push((name, now.stolen_since(self.row_start)));
        self.row_start = now;
    }

    /// The line under the machine's: `CPU time stolen by the hypervisor …`.
    pub fn line(&self) -> String {
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|(name, percent)| format!("{name} {percent:.1}%"))
            .collect();
        format!(
            "CPU time stolen by the hypervisor (`steal` in /proc/stat; a row above a few percent ran on a busy host): {:.1}% of the run; {}",
            Ticks::now().stolen_since(self.start),
            rows.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Ticks;

    #[test]
    fn steal_is_the_eighth_field_of_the_cpu_line_over_the_first_eight() {
        let before = Ticks::parse("cpu  714118 0 106005 316741 5366 0 44304 15898 0 0");
        let after = Ticks::parse("cpu  838790 0 127868 327907 7828 0 53503 18724 77 0");
        assert_eq!(
            before,
            Ticks {
                steal: 15898,
                total: 1_202_432
            }
        );
        // 2,826 of 172,188 ticks.
        let percent = after.stolen_since(before);
        assert!((percent - 1.641).abs() < 0.001, "{percent}");
        assert_eq!(before.stolen_since(before), 0.0);
        assert_eq!(Ticks::parse("cpu").stolen_since(Ticks::default()), 0.0);
    }
}
