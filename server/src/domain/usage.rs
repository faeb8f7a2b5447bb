//! What counting decided.

/// What an increment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackOutcome {
    /// Counted; the new count.
    Counted(i64),
    /// Refused: it would have passed the hard limit. The current count.
    LimitExceeded(i64),
}

/// What an idempotent increment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotentOutcome {
    /// First use of the key; the increment ran.
    Fresh(TrackOutcome),
    /// The key was used before with the same request; its stored response.
    Replayed(String),
    /// The key was used before with a different request.
    Mismatch,
}
