//! Checks of what people type: trimmed, within a length, single-line where it must be.

use crate::error::{Error, Result};

/// Trimmed, non-empty, at most `max` characters. `what` names the field in the error ("The message").
pub fn required(text: &str, what: &str, max: usize) -> Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::bad_request(format!("{what} is empty.")));
    }
    if text.chars().count() > max {
        return Err(Error::bad_request(format!("{what} is longer than {max} characters.")));
    }
    Ok(text.to_string())
}

/// Like [`required`], but empty or absent is `None`.
pub fn optional(text: Option<String>, what: &str, max: usize) -> Result<Option<String>> {
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => required(text, what, max).map(Some),
    }
}

/// A name, contact or tag: one line, no control characters.
pub fn one_line(text: Option<String>, what: &str, max: usize) -> Result<Option<String>> {
    let text = optional(text, what, max)?;
    if text.as_deref().is_some_and(|t| t.chars().any(char::is_control)) {
        return Err(Error::bad_request(format!("{what} must be one line.")));
    }
    Ok(text)
}

/// Tags trimmed, lower-cased, de-duplicated, in the order given.
pub fn tags(tags: Vec<String>, max_tags: usize, max_len: usize) -> Result<Vec<String>> {
    let mut clean: Vec<String> = Vec::new();
    for tag in tags {
        let Some(tag) = one_line(Some(tag.to_lowercase()), "A tag", max_len)? else { continue };
        if !clean.contains(&tag) {
            clean.push(tag);
        }
    }
    if clean.len() > max_tags {
        return Err(Error::bad_request(format!("At most {max_tags} tags.")));
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn lengths_count_characters_not_bytes() {
        let arabic = "س".repeat(10);
        assert_eq!(required(&arabic, "The message", 10).unwrap(), arabic);
        assert_eq!(required(&format!("{arabic}س"), "The message", 10).unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(required("  hi \n", "The message", 2).unwrap(), "hi");
        assert!(required("   ", "The message", 2).is_err());
    }

    #[test]
    fn optional_fields_are_none_when_blank() {
        assert_eq!(optional(Some("  ".into()), "The name", 5).unwrap(), None);
        assert_eq!(optional(None, "The name", 5).unwrap(), None);
        assert_eq!(one_line(Some(" Fatima ".into()), "The name", 10).unwrap().as_deref(), Some("Fatima"));
        assert!(one_line(Some("Fa\ntima".into()), "The name", 10).is_err());
        assert!(one_line(Some("Fatima Ahmed".into()), "The name", 5).is_err());
    }

    #[test]
    fn tags_are_cleaned_and_counted() {
        let clean = tags(vec![" Housing ".into(), "housing".into(), "".into(), "loan".into()], 2, 10).unwrap();
        assert_eq!(clean, ["housing", "loan"]);
        assert!(tags(vec!["a".into(), "b".into(), "c".into()], 2, 10).is_err());
        assert!(tags(vec!["x".repeat(11)], 2, 10).is_err());
    }
}
