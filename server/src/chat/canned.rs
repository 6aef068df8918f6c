//! Canned responses: texts in Arabic and English that admins manage and agents insert with a shortcut.
//!
//! An agent's message that is exactly `/shortcut` (say `/greet`) is sent as the canned text in the chat's
//! language; the store looks the shortcut up with [`shortcut_of`] and hands the entry to the rules. Pages may also
//! offer the texts while the agent types; the server's expansion is what makes `/greet` safe to send as is.

use serde::{Deserialize, Serialize};

use super::policy::ChatPolicy;
use super::{CannedId, ChatLang};
use crate::error::{Error, Result};
use crate::qa::Localized;

/// Longest shortcut, in characters.
pub const MAX_SHORTCUT_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canned {
    pub id: CannedId,
    /// Without the slash, lower-case: letters, digits, `-` and `_` (Arabic letters too).
    pub shortcut: String,
    pub text: Localized,
    pub updated_at: u64,
}

impl Canned {
    pub fn text_for(&self, lang: ChatLang) -> Option<&str> {
        let text = match lang {
            ChatLang::Ar => &self.text.ar,
            ChatLang::En => &self.text.en,
        };
        text.as_deref().filter(|t| !t.is_empty())
    }
}

/// What an admin sends to create or replace a canned response.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCanned {
    pub shortcut: String,
    pub text: Localized,
}

/// The shortcut a message calls for, if it is exactly `/shortcut`.
pub fn shortcut_of(text: &str) -> Option<String> {
    let name = text.trim().strip_prefix('/')?;
    valid_shortcut(name).then(|| name.to_lowercase())
}

fn valid_shortcut(name: &str) -> bool {
    let len = name.chars().count();
    (1..=MAX_SHORTCUT_LEN).contains(&len) && name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

/// A new canned response among `existing`, or `existing`'s entry `id` replaced (`id` already there).
pub fn upsert(existing: &[Canned], id: CannedId, new: NewCanned, policy: &ChatPolicy, now: u64) -> Result<Canned> {
    let shortcut = new.shortcut.trim().trim_start_matches('/').to_lowercase();
    if !valid_shortcut(&shortcut) {
        return Err(Error::bad_request(format!("A shortcut is 1 to {MAX_SHORTCUT_LEN} letters, digits, '-' or '_'.")));
    }
    if existing.iter().any(|c| c.shortcut == shortcut && c.id != id) {
        return Err(Error::conflict(format!("The shortcut /{shortcut} is taken.")));
    }
    let replacing = existing.iter().any(|c| c.id == id);
    if !replacing && existing.len() >= policy.max_canned {
        return Err(Error::conflict(format!("At most {} canned responses.", policy.max_canned)));
    }
    let checked = |text: Option<String>, what: &str| super::text::optional(text, what, policy.max_message_len);
    let text =
        Localized { ar: checked(new.text.ar, "The Arabic text")?, en: checked(new.text.en, "The English text")? };
    if text.is_empty() {
        return Err(Error::bad_request("A canned response needs an Arabic or an English text."));
    }
    Ok(Canned { id, shortcut, text, updated_at: now })
}

/// The text `canned` gives in `lang`, or why it can't be sent.
pub fn expand(canned: Option<&Canned>, shortcut: &str, lang: ChatLang) -> Result<String> {
    let canned = canned.ok_or_else(|| Error::bad_request(format!("There is no canned response /{shortcut}.")))?;
    let text = canned.text_for(lang).ok_or_else(|| {
        let language = match lang {
            ChatLang::Ar => "Arabic",
            ChatLang::En => "English",
        };
        Error::bad_request(format!("The canned response /{shortcut} has no {language} text."))
    })?;
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn new(shortcut: &str, ar: Option<&str>, en: Option<&str>) -> NewCanned {
        NewCanned { shortcut: shortcut.into(), text: Localized { ar: ar.map(Into::into), en: en.map(Into::into) } }
    }

    #[test]
    fn shortcuts_are_recognised_only_as_a_whole_message() {
        assert_eq!(shortcut_of("/greet").as_deref(), Some("greet"));
        assert_eq!(shortcut_of("  /Greet ").as_deref(), Some("greet"));
        assert_eq!(shortcut_of("/تحية").as_deref(), Some("تحية"));
        assert_eq!(shortcut_of("/greet now"), None);
        assert_eq!(shortcut_of("greet"), None);
        assert_eq!(shortcut_of("/"), None);
        assert_eq!(shortcut_of("/a/b"), None);
    }

    #[test]
    fn admins_create_and_replace_canned_responses() {
        let p = ChatPolicy::default();
        let greet = upsert(&[], 1, new("/Greet", Some("مرحبا"), Some("Hello")), &p, 5).unwrap();
        assert_eq!(greet.shortcut, "greet");
        let existing = [greet.clone()];
        let renamed = upsert(&existing, 1, new("hello", None, Some("Hi")), &p, 6).unwrap();
        assert_eq!((renamed.shortcut.as_str(), renamed.text.ar.as_deref()), ("hello", None));
        assert_eq!(upsert(&existing, 2, new("greet", None, Some("x")), &p, 6).unwrap_err().code, ErrorCode::Conflict);
        assert_eq!(
            upsert(&existing, 2, new("bad name", None, Some("x")), &p, 6).unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert_eq!(upsert(&existing, 2, new("empty", Some(" "), None), &p, 6).unwrap_err().code, ErrorCode::BadRequest);
        let long = "x".repeat(p.max_message_len + 1);
        assert!(upsert(&existing, 2, new("long", None, Some(&long)), &p, 6).is_err());
        let full = ChatPolicy { max_canned: 1, ..ChatPolicy::default() };
        assert_eq!(upsert(&existing, 2, new("more", None, Some("x")), &full, 6).unwrap_err().code, ErrorCode::Conflict);
        assert!(upsert(&existing, 1, new("greet", None, Some("x")), &full, 6).is_ok());
    }

    #[test]
    fn expansion_takes_the_chats_language() {
        let p = ChatPolicy::default();
        let greet = upsert(&[], 1, new("greet", Some("مرحبا"), None), &p, 5).unwrap();
        assert_eq!(expand(Some(&greet), "greet", ChatLang::Ar).unwrap(), "مرحبا");
        assert_eq!(expand(Some(&greet), "greet", ChatLang::En).unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(expand(None, "nope", ChatLang::En).unwrap_err().code, ErrorCode::BadRequest);
    }
}
