//! The commands' JSON objects, written one way: pretty, with a final newline, and every
//! object's keys in alphabetical order.

/// `value` as pretty JSON with a final newline, every object's keys in alphabetical order (the
/// order the commands' JSON has always had: it was built as `serde_json::Value`s).
pub fn sorted_json(value: &impl serde::Serialize) -> serde_json::Result<String> {
    Ok(serde_json::to_string_pretty(&serde_json::to_value(value)?)? + "\n")
}
