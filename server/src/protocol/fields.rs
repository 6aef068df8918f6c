//! Reading commands and REST bodies from JSON, with errors a person can read.
//!
//! serde's messages are written for programmers ("invalid type: string \"x\", expected u64 at line 1 column
//! 9"); a client gets a plain sentence that names the field at fault instead ("The \"question\" field must be a
//! whole number."). The field's path comes from `serde_path_to_error`; what was wrong with it, from the
//! category of serde's message, whose wording serde fixes in `serde::de::Error`'s provided constructors.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

use crate::error::Error;

/// Reads a `T` from an already parsed JSON value.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| plain(&e))
}

/// Reads a `T` from a JSON body.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => {
            deserializer.end().map_err(|_| not_json())?;
            Ok(value)
        }
        // serde_json's reader calls a value of the wrong kind where an enum is read (`"category": 3`) a syntax
        // error, although the body is valid JSON: read the parsed body again, which names the field.
        Err(e) if !e.inner().is_data() => match serde_json::from_slice::<Value>(bytes) {
            Ok(parsed) => from_value(parsed),
            Err(_) => Err(not_json()),
        },
        Err(e) => Err(plain(&e)),
    }
}

fn not_json() -> Error {
    Error::bad_request("The body is not valid JSON.")
}

fn plain(error: &serde_path_to_error::Error<serde_json::Error>) -> Error {
    let inner = error.inner();
    if !inner.is_data() {
        return not_json();
    }
    let message = inner.to_string();
    // A body read from bytes has " at line L column C" appended: nothing a person needs.
    let message = message.rfind(" at line ").map_or(message.as_str(), |at| &message[..at]);
    Error::bad_request(sentence(&field_path(error.path()), message))
}

/// `title.en`, `tags[2]`: the object keys and list positions leading to the value at fault.
fn field_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            // The command's own name (its type) is not a field.
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

/// The path of `field` inside the object at `path` (serde's path ends at the object for a missing field, at
/// the field itself for an unknown one).
fn joined(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else if path == field || path.ends_with(&format!(".{field}")) {
        path.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// The text between the first pair of backticks, where serde quotes a field or variant name.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// One plain sentence for serde's `message` about the value at `path`.
fn sentence(path: &str, message: &str) -> String {
    let subject = if path.is_empty() { "The value".to_string() } else { format!("The \"{}\" field", shorten(path)) };
    if let Some(rest) = message.strip_prefix("missing field ") {
        let field = quoted(rest).unwrap_or("");
        return format!("The \"{}\" field is missing.", shorten(&joined(path, field)));
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let field = quoted(rest).unwrap_or("");
        return format!("\"{}\" is not a field this accepts.", shorten(&joined(path, field)));
    }
    if let Some(rest) = message.strip_prefix("duplicate field ") {
        let field = quoted(rest).unwrap_or("");
        return format!("The \"{}\" field is given twice.", shorten(&joined(path, field)));
    }
    if message.starts_with("unknown variant ") {
        if let Some((_, expected)) = message.split_once("expected ") {
            return format!("{subject} must be {}.", shorten(&expected.replace('`', "")));
        }
    }
    let expected = ["invalid type: ", "invalid value: ", "invalid length "]
        .iter()
        .find(|prefix| message.starts_with(*prefix))
        .and_then(|_| message.rsplit_once(", expected "))
        .and_then(|(_, expected)| kind(expected));
    match expected {
        Some(kind) => format!("{subject} must be {kind}."),
        None if is_our_sentence(message) => format!("{subject} is not valid: {}", shorten_sentence(message)),
        None => format!("{subject} is not valid."),
    }
}

/// A message our own deserializers wrote for people (a `serde::de::Error::custom` with one of our errors' plain
/// sentences, e.g. `chat::hours::Clock`'s): a capital letter or a quote first, a full stop last, nothing of
/// serde's or a parser's. Libraries' own messages ("premature end of input") don't look like this.
fn is_our_sentence(message: &str) -> bool {
    let starts = message.chars().next().is_some_and(|c| c.is_uppercase() || c == '"');
    starts && message.ends_with('.') && !message.contains('`') && !message.contains("expected")
}

fn shorten_sentence(message: &str) -> String {
    const MAX: usize = 200;
    if message.chars().count() <= MAX {
        return message.to_string();
    }
    format!("{}…", message.chars().take(MAX).collect::<String>())
}

/// What serde's "expected …" means, in plain words; `None` if it is nothing a client should be told about.
fn kind(expected: &str) -> Option<&'static str> {
    Some(match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a string" | "a borrowed string" | "a character" => "a string",
        "a boolean" => "true or false",
        "a sequence" => "a list",
        "a map" => "an object",
        // An enum read from a parsed value: its names are strings (our bodies' enums are unit variants).
        "string or map" => "a string",
        e if e.starts_with("struct ") || e.starts_with("a map") => "an object",
        e if e.starts_with("a sequence") || e.starts_with("an array") || e.starts_with("a tuple") => "a list",
        _ => return None,
    })
}

/// Keeps a client-sent field name from making a long message.
fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    format!("{}…", text.chars().take(MAX).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        id: u64,
        name: Option<String>,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        state: Option<State>,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        at: Option<crate::chat::hours::Clock>,
        #[serde(default)]
        day: Option<chrono::NaiveDate>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum State {
        Live,
        Ended,
        Archived,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        seq: u64,
    }

    fn message(body: &str) -> String {
        from_slice::<Body>(body.as_bytes()).expect_err("refused").message
    }

    #[test]
    fn every_bad_field_gets_a_plain_sentence_naming_it() {
        assert_eq!(message(r#"{"name":"x"}"#), "The \"id\" field is missing.");
        assert_eq!(message(r#"{"id":"7"}"#), "The \"id\" field must be a whole number (0 or more).");
        assert_eq!(message(r#"{"id":-1}"#), "The \"id\" field must be a whole number (0 or more).");
        assert_eq!(message(r#"{"id":1,"name":5}"#), "The \"name\" field must be a string.");
        assert_eq!(message(r#"{"id":1,"tags":"a"}"#), "The \"tags\" field must be a list.");
        assert_eq!(message(r#"{"id":1,"tags":["a",2]}"#), "The \"tags[1]\" field must be a string.");
        assert_eq!(
            message(r#"{"id":1,"state":"paused"}"#),
            "The \"state\" field must be one of live, ended, archived."
        );
        assert_eq!(
            message(r#"{"id":1,"inner":{"seq":true}}"#),
            "The \"inner.seq\" field must be a whole number (0 or more)."
        );
        assert_eq!(message(r#"{"id":1,"inner":{}}"#), "The \"inner.seq\" field is missing.");
        assert_eq!(message(r#"{"id":1,"inner":3}"#), "The \"inner\" field must be an object.");
        assert_eq!(message(r#"{"id":1,"colour":"red"}"#), "\"colour\" is not a field this accepts.");
        assert_eq!(message(r#"[1]"#), "The value must be an object.");
        assert_eq!(message(r#"{"id":1"#), "The body is not valid JSON.");
        assert_eq!(
            message(r#"{"id":1,"at":"25:00"}"#),
            "The \"at\" field is not valid: \"25:00\" is not a time of day (HH:MM, 00:00 to 24:00)."
        );
        assert_eq!(message(r#"{"id":1,"day":"16/12/2026"}"#), "The \"day\" field is not valid.");
        assert_eq!(message(r#"{"id":1} x"#), "The body is not valid JSON.");
        assert_eq!(message(r#"{"id":1,"state":3}"#), "The \"state\" field must be a string.");
        assert_eq!(message(r#"{"id":1,"state":[]}"#), "The \"state\" field must be a string.");
    }

    #[test]
    fn no_sentence_carries_parser_wording() {
        for body in [r#"{"id":1.5}"#, r#"{"id":1,"state":3}"#, r#"{"id":1,"id":2}"#, r#"{"id":1,"name":[]}"#] {
            let text = message(body);
            for word in ["expected", "invalid type", "line", "column", "u64", "`"] {
                assert!(!text.contains(word), "{body}: {text}");
            }
        }
    }
}
