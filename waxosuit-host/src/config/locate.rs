//! Where in a `waxo.toml` text a problem is: the line (from the TOML parser's byte span) and
//! the dotted key (from the path serde was deserializing when it failed).

use serde::de::DeserializeOwned;

use super::Problem;

/// Deserializes `text`, turning any failure into a [`Problem`] with its line and key.
pub(super) fn deserialize<T: DeserializeOwned>(text: &str) -> Result<T, Problem> {
    let deserializer = toml::de::Deserializer::parse(text).map_err(|e| problem(text, &e, None))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = dotted(e.path());
        problem(text, e.inner(), key)
    })
}

fn problem(text: &str, error: &toml::de::Error, key: Option<String>) -> Problem {
    Problem {
        line: error.span().map(|span| line_of(text, span.start)),
        key,
        message: error.message().trim_end().to_string(),
    }
}

/// The key path, e.g. `messaging.subscribe[0].subject`; `None` at the top level.
fn dotted(path: &serde_path_to_error::Path) -> Option<String> {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            serde_path_to_error::Segment::Enum { variant } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(variant);
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The 1-based line of byte `offset` in `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::line_of;

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
        assert_eq!(line_of("a", 99), 1);
    }
}
