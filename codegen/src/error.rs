//! What the generators report when a spec uses something they cannot handle.
//!
//! Every error names the place in the spec as a JSON pointer, so the author can find it.

/// A generator failure, located in the input document.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GenError {
    /// The document could not be read or parsed.
    #[error("cannot read the spec: {0}")]
    Parse(String),
    /// The document uses a construct the generator does not support.
    #[error("unsupported at {pointer}: {what}")]
    Unsupported { pointer: String, what: String },
    /// An upstream generator (progenitor, typify) rejected the document.
    #[error("{generator} cannot generate code for this spec: {message}")]
    Upstream {
        generator: &'static str,
        message: String,
    },
}

impl GenError {
    pub fn unsupported(pointer: impl Into<String>, what: impl Into<String>) -> Self {
        GenError::Unsupported {
            pointer: pointer.into(),
            what: what.into(),
        }
    }

    /// What went wrong, told from the part at `pointer`: a construct deeper inside it names
    /// its own place.
    pub fn reason_at(&self, pointer: &str) -> String {
        match self {
            GenError::Unsupported { pointer: at, what } if at != pointer => {
                format!("{what} (at {at})")
            }
            GenError::Unsupported { what, .. } => what.clone(),
            other => other.to_string(),
        }
    }
}

/// Escapes one JSON-pointer segment (RFC 6901).
pub fn pointer_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Runs an upstream generator, turning both its errors and its panics into [`GenError`]s.
///
/// Progenitor and typify assert on some inputs instead of returning errors; a generator run
/// from CI or an editor must report those, not abort.
pub fn guard<T>(
    generator: &'static str,
    f: impl FnOnce() -> Result<T, String>,
) -> Result<T, GenError> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(message)) => Err(GenError::Upstream {
            generator,
            message: first_line(&message),
        }),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "it stopped without a message".to_string());
            Err(GenError::Upstream {
                generator,
                message: first_line(&message),
            })
        }
    }
}

/// Upstream messages can carry whole debug dumps of the schema; the first line says what
/// went wrong.
fn first_line(message: &str) -> String {
    let line = message
        .lines()
        .next()
        .unwrap_or("")
        .trim_end_matches([' ', '{']);
    line.chars().take(300).collect()
}
