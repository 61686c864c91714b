//! Violations counted per directive, in a map of fixed size.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use super::ViolatedDirective;
use crate::csp::Directive;

const SLOTS: usize = Directive::ALL.len() + 1;

/// How many violations were reported, per directive. One counter per known
/// directive and one for "other": a client cannot grow it. Clones share the
/// counters.
///
/// # Example
///
/// ```
/// use rampart_headers::{csp::Directive, report::{ViolationCounts, ViolatedDirective}};
///
/// let counts = ViolationCounts::default();
/// counts.record(ViolatedDirective::Known(Directive::ScriptSrc));
/// counts.record(ViolatedDirective::Other);
/// assert_eq!(counts.get(ViolatedDirective::Known(Directive::ScriptSrc)), 1);
/// assert_eq!(counts.total(), 2);
/// ```
#[derive(Clone, Default)]
pub struct ViolationCounts {
    slots: Arc<[AtomicU64; SLOTS]>,
}

impl ViolationCounts {
    fn slot(directive: ViolatedDirective) -> usize {
        match directive {
            ViolatedDirective::Known(d) => d.index(),
            ViolatedDirective::Other => SLOTS - 1,
        }
    }

    /// Counts one violation.
    pub fn record(&self, directive: ViolatedDirective) {
        self.slots[Self::slot(directive)].fetch_add(1, Ordering::Relaxed);
    }

    /// The count for one directive.
    pub fn get(&self, directive: ViolatedDirective) -> u64 {
        self.slots[Self::slot(directive)].load(Ordering::Relaxed)
    }

    /// All violations counted.
    pub fn total(&self) -> u64 {
        self.slots.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }

    /// Every directive with a count above zero, by name (for a metrics exporter).
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        Directive::ALL
            .into_iter()
            .map(ViolatedDirective::Known)
            .chain([ViolatedDirective::Other])
            .map(|d| (d.name(), self.get(d)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

impl fmt::Debug for ViolationCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.snapshot()).finish()
    }
}
